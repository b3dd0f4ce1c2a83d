//! Slow calls: with `slow_call_duration` set, a call that takes at least
//! that long counts as slow, and the slow-call rate trips the breaker like
//! the failure rate does. Calls "take time" by advancing tokio's paused
//! clock inside the called future.

mod common;

use ballast_circuit_breaker::{
    Breaker, CallError, Cause, Config, ConfigBuilder, SlidingWindow, State,
};
use common::record_events;
use std::io;
use std::time::Duration;
use tokio::time::advance;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const SLOW: Duration = Duration::from_secs(1);

/// Count window of `size` calls, all needed before rates count; 50% for
/// either rate trips; calls of 1 s or more are slow.
fn builder(size: u32) -> ConfigBuilder {
    Config::builder()
        .sliding_window(SlidingWindow::count(size))
        .minimum_calls(size)
        .failure_rate_threshold(50.0)
        .slow_call_rate_threshold(50.0)
        .slow_call_duration(SLOW)
        .wait_in_open(Duration::from_secs(30))
}

/// A successful call that takes `took` of (paused) time.
async fn call_taking(b: &Breaker, took: Duration) -> Result<(), CallError<io::Error>> {
    b.call(|| async move {
        advance(took).await;
        Ok(())
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn calls_taking_at_least_slow_call_duration_count_as_slow() {
    let b = Breaker::new(builder(10).build().unwrap());
    call_taking(&b, Duration::ZERO).await.unwrap();
    call_taking(&b, SLOW - Duration::from_millis(1))
        .await
        .unwrap();
    let m = b.metrics();
    assert_eq!(
        (m.calls, m.slow_calls),
        (2, 0),
        "under the duration is not slow"
    );
    call_taking(&b, SLOW).await.unwrap();
    call_taking(&b, SLOW * 5).await.unwrap();
    let m = b.metrics();
    assert_eq!((m.calls, m.slow_calls, m.failures), (4, 2, 0));
    assert_eq!(m.slow_call_rate, 50.0);
    assert_eq!(m.failure_rate, 0.0, "slow successes are not failures");
}

#[tokio::test(start_paused = true)]
async fn slow_call_rate_reaching_threshold_opens_with_slow_call_rate_cause() {
    let b = Breaker::new(builder(4).build().unwrap());
    let log = record_events(&b);
    call_taking(&b, Duration::ZERO).await.unwrap();
    call_taking(&b, SLOW).await.unwrap();
    call_taking(&b, Duration::ZERO).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    call_taking(&b, SLOW * 2).await.unwrap();
    assert_eq!(b.state(), State::Open);
    let events = log.lock().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].cause, Cause::SlowCallRate(50.0));
    let m = b.metrics();
    assert_eq!((m.slow_calls, m.slow_call_rate), (2, 50.0));
}

#[tokio::test(start_paused = true)]
async fn slow_call_rate_below_threshold_does_not_trip() {
    let b = Breaker::new(builder(4).build().unwrap());
    call_taking(&b, SLOW).await.unwrap();
    for _ in 0..3 {
        call_taking(&b, Duration::from_millis(10)).await.unwrap();
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().slow_call_rate, 25.0);
}

#[tokio::test(start_paused = true)]
async fn a_permit_held_at_least_slow_call_duration_records_a_slow_call() {
    let b = Breaker::new(builder(10).build().unwrap());
    let p = b.try_acquire().unwrap();
    advance(SLOW).await;
    p.success();
    assert_eq!(b.metrics().slow_calls, 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_failure_counts_as_both_failed_and_slow() {
    let b = Breaker::new(builder(10).build().unwrap());
    let r = b
        .call(|| async {
            advance(SLOW).await;
            Err::<(), _>(io::Error::other("timed out eventually"))
        })
        .await;
    assert!(matches!(r, Err(CallError::Inner(_))));
    let m = b.metrics();
    assert_eq!((m.calls, m.failures, m.slow_calls), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn slow_calls_through_the_layer_trip_the_breaker() {
    let b = Breaker::new(builder(4).build().unwrap());
    let svc = service_fn(|took: Duration| async move {
        advance(took).await;
        Ok::<_, io::Error>("done")
    });
    let mut svc = ServiceBuilder::new().layer(b.layer()).service(svc);
    for took in [SLOW, Duration::ZERO, SLOW * 3, Duration::ZERO] {
        svc.ready().await.unwrap().call(took).await.unwrap();
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().slow_calls, 2);
}

#[tokio::test(start_paused = true)]
async fn slow_probes_reopen_half_open() {
    let b = Breaker::new(builder(4).half_open_permits(2).build().unwrap());
    let log = record_events(&b);
    for _ in 0..4 {
        call_taking(&b, SLOW).await.unwrap();
    }
    assert_eq!(b.state(), State::Open);
    advance(Duration::from_secs(30)).await;
    call_taking(&b, SLOW).await.unwrap();
    // One slow probe of two is already 50%.
    assert_eq!(b.state(), State::Open);
    let events = log.lock().unwrap();
    assert_eq!(
        events.last().unwrap().cause,
        Cause::ProbesFailed {
            failure_rate: 0.0,
            slow_call_rate: 100.0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn fast_probes_close_half_open_after_a_slow_call_trip() {
    let b = Breaker::new(builder(4).half_open_permits(2).build().unwrap());
    for _ in 0..4 {
        call_taking(&b, SLOW).await.unwrap();
    }
    advance(Duration::from_secs(30)).await;
    call_taking(&b, Duration::from_millis(5)).await.unwrap();
    call_taking(&b, Duration::from_millis(5)).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_are_not_tracked_without_slow_call_duration() {
    let b = Breaker::new(
        Config::builder()
            .sliding_window(SlidingWindow::count(4))
            .minimum_calls(4)
            .slow_call_rate_threshold(1.0)
            .build()
            .unwrap(),
    );
    for _ in 0..4 {
        call_taking(&b, Duration::from_secs(3600)).await.unwrap();
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().slow_calls, 0);
}

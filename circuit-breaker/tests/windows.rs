//! The sliding windows the rates are computed over: a count window keeps
//! only the last N calls; a time window keeps the calls of its duration.

mod common;

use ballast_circuit_breaker::{Breaker, CallError, Cause, Config, SlidingWindow, State};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::advance;

/// A failing call, which must reach the operation (not be rejected).
async fn fail(b: &Breaker) {
    let r = common::fail(b).await;
    assert!(matches!(r, Err(CallError::Inner(_))), "{r:?}");
}

/// A succeeding call, which must be admitted.
async fn succeed(b: &Breaker) {
    common::succeed(b).await.unwrap();
}

fn count_window(size: u32, minimum_calls: u32) -> Breaker {
    Breaker::new(
        Config::builder()
            .sliding_window(SlidingWindow::count(size))
            .minimum_calls(minimum_calls)
            .failure_rate_threshold(50.0)
            .wait_in_open(Duration::from_secs(30))
            .build()
            .unwrap(),
    )
}

/// A 10 s window in 10 buckets of 1 s; trips at 50% after 4 calls.
fn time_window() -> Breaker {
    Breaker::new(
        Config::builder()
            .sliding_window(SlidingWindow::time_with_buckets(
                Duration::from_secs(10),
                10,
            ))
            .minimum_calls(4)
            .failure_rate_threshold(50.0)
            .wait_in_open(Duration::from_secs(30))
            .build()
            .unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn count_window_keeps_only_the_last_n_calls() {
    let b = count_window(4, 4);
    fail(&b).await;
    for _ in 0..3 {
        succeed(&b).await;
    }
    let m = b.metrics();
    assert_eq!((m.calls, m.failures, m.failure_rate), (4, 1, 25.0));
    for _ in 0..6 {
        succeed(&b).await;
    }
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (4, 0), "never more than 4 calls");
}

#[tokio::test(start_paused = true)]
async fn old_failures_age_out_of_the_count_window() {
    let b = count_window(4, 4);
    fail(&b).await;
    for _ in 0..3 {
        succeed(&b).await;
    }
    // The first failure leaves the window as the fifth call enters.
    succeed(&b).await;
    fail(&b).await;
    // Window: ok, ok, ok, fail. Had the first failure stayed, 2 of 4 would trip.
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().failures, 1);
    fail(&b).await;
    // Window: ok, ok, fail, fail: 50%.
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn count_window_does_not_age_out_by_time() {
    let b = count_window(4, 4);
    fail(&b).await;
    fail(&b).await;
    succeed(&b).await;
    advance(Duration::from_secs(3600)).await;
    assert_eq!(b.metrics().failures, 2);
    succeed(&b).await;
    assert_eq!(b.state(), State::Open, "2 of the last 4 calls failed");
}

#[tokio::test(start_paused = true)]
async fn count_window_trips_only_after_minimum_calls() {
    let b = count_window(100, 10);
    for _ in 0..9 {
        fail(&b).await;
    }
    assert_eq!(b.state(), State::Closed);
    fail(&b).await;
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn time_window_trips_on_the_failure_rate_within_its_duration() {
    let b = time_window();
    let causes = Arc::new(Mutex::new(Vec::new()));
    let sink = causes.clone();
    b.on_state_change(move |e| sink.lock().unwrap().push(e.cause));
    fail(&b).await;
    advance(Duration::from_secs(3)).await;
    succeed(&b).await;
    advance(Duration::from_secs(3)).await;
    succeed(&b).await;
    advance(Duration::from_secs(3)).await;
    assert_eq!(b.state(), State::Closed, "3 calls are under the minimum");
    // t = 9 s: every call is still in the window; 2 of 4 fail.
    fail(&b).await;
    assert_eq!(b.state(), State::Open);
    assert_eq!(*causes.lock().unwrap(), [Cause::FailureRate(50.0)]);
}

#[tokio::test(start_paused = true)]
async fn time_window_ages_calls_out_after_its_duration() {
    let b = time_window();
    for _ in 0..3 {
        fail(&b).await;
    }
    advance(Duration::from_millis(9999)).await;
    assert_eq!(b.metrics().calls, 3, "still inside the 10 s window");
    advance(Duration::from_millis(1)).await;
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (0, 0), "aged out after 10 s");

    // Without the aged-out failures, 1 of 4 is 25%: no trip.
    fail(&b).await;
    for _ in 0..3 {
        succeed(&b).await;
    }
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!((m.calls, m.failures, m.failure_rate), (4, 1, 25.0));
}

#[tokio::test(start_paused = true)]
async fn time_window_ages_out_bucket_by_bucket() {
    let b = time_window();
    fail(&b).await; // bucket 0 s
    advance(Duration::from_secs(5)).await;
    fail(&b).await; // bucket 5 s
    advance(Duration::from_secs(5)).await;
    // t = 10 s: the first bucket has aged out, the second has not.
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (1, 1));
    advance(Duration::from_secs(5)).await;
    assert_eq!(b.metrics().calls, 0);
}

#[tokio::test(start_paused = true)]
async fn time_window_trips_only_after_minimum_calls_within_the_window() {
    let b = time_window();
    // One failure every 4 s: the 10 s window never holds 4 calls.
    for _ in 0..6 {
        fail(&b).await;
        advance(Duration::from_secs(4)).await;
    }
    assert_eq!(b.state(), State::Closed);
    assert!(b.metrics().calls <= 3);
}

#[tokio::test(start_paused = true)]
async fn time_window_trips_on_a_success_once_older_successes_age_out() {
    let b = time_window();
    for _ in 0..5 {
        succeed(&b).await; // bucket 0 s
    }
    advance(Duration::from_secs(5)).await;
    for _ in 0..4 {
        fail(&b).await; // bucket 5 s: 4 of 9 fail, 44%
    }
    assert_eq!(b.state(), State::Closed);
    advance(Duration::from_secs(5)).await;
    // t = 10 s: the successes have aged out (a snapshot already sees it),
    // leaving 4 failures; the next call, a success, finds 4 of 5 failed.
    assert_eq!(b.metrics().failure_rate, 100.0);
    assert_eq!(b.state(), State::Closed, "no call has been recorded yet");
    succeed(&b).await;
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn time_window_trips_on_a_success_that_brings_it_to_minimum_calls() {
    let b = time_window();
    for _ in 0..3 {
        fail(&b).await;
    }
    assert_eq!(b.state(), State::Closed, "3 calls are under the minimum");
    // Same bucket, no period opened: the fourth call reaching the minimum
    // is what must evaluate (3 of 4 failed).
    succeed(&b).await;
    assert_eq!(b.state(), State::Open);
}

//! The tower layer on tokio's paused clock: schedules, stop conditions,
//! request cloning, cancellation.

mod common;

use ballast_retry::{Action, Backoff, Jitter, Policy, RetryErrors};
use common::{MS, Scripted, builder, io_kind};
use std::io::ErrorKind::{ConnectionRefused, InvalidInput};
use std::time::Duration;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_on_the_backoff_schedule() {
    let dep = Scripted::new(&[Err(ConnectionRefused), Err(ConnectionRefused), Ok(200)]);
    let backoff = Backoff::exponential(100 * MS)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let policy = Policy::new(builder().backoff(backoff).build().unwrap(), RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let answer = svc.ready().await.unwrap().call("GET").await.unwrap();
    assert_eq!(answer, 200);
    assert_eq!(dep.start_ms(), [0, 100, 300]);
    let m = policy.metrics();
    assert_eq!((m.calls, m.attempts, m.retries, m.gave_up), (1, 3, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_seeded_policy_waits_exactly_the_seeded_delays() {
    let backoff = Backoff::exponential(100 * MS)
        .jitter(Jitter::Full)
        .build()
        .unwrap();
    let policy = Policy::new(
        builder().backoff(backoff).seed(9).build().unwrap(),
        RetryErrors,
    );
    let dep = Scripted::down();
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let origin = Instant::now();
    let err = svc.ready().await.unwrap().call("GET").await.unwrap_err();
    assert_eq!(io_kind(&err), Some(ConnectionRefused));
    let mut expected = vec![Duration::ZERO];
    for d in backoff.delays_seeded(9).take(4) {
        expected.push(*expected.last().unwrap() + d);
    }
    let starts = dep.starts.lock().unwrap().clone();
    let got: Vec<_> = starts.iter().map(|s| *s - origin).collect();
    // The paused clock moves in whole milliseconds per timer.
    for (g, e) in got.iter().zip(&expected) {
        assert!(g.abs_diff(*e) <= 4 * MS, "{got:?} vs {expected:?}");
    }
    assert_eq!(got.len(), 5);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_retried_unless_classified_transient() {
    let dep = Scripted::new(&[Ok(503), Err(InvalidInput), Ok(503)]);
    // Only 503 is transient; an invalid request is returned at once.
    let policy = Policy::new(
        builder().build().unwrap(),
        |r: &Result<u16, std::io::Error>| match r {
            Ok(503) => Action::Retry,
            _ => Action::Return,
        },
    );
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let err = svc.ready().await.unwrap().call("GET").await.unwrap_err();
    assert_eq!(io_kind(&err), Some(InvalidInput));
    assert_eq!(dep.calls(), 2);
    assert_eq!(policy.metrics().gave_up, 0);
}

#[tokio::test(start_paused = true)]
async fn max_attempts_stop_with_the_last_error() {
    let dep = Scripted::down();
    let policy = Policy::new(builder().max_attempts(3).build().unwrap(), RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let err = svc.ready().await.unwrap().call("GET").await.unwrap_err();
    assert_eq!(io_kind(&err), Some(ConnectionRefused));
    assert_eq!(dep.start_ms(), [0, 100, 200]);
    let m = policy.metrics();
    assert_eq!((m.attempts, m.retries, m.gave_up), (3, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn one_attempt_never_retries() {
    let dep = Scripted::down();
    let policy = Policy::new(builder().max_attempts(1).build().unwrap(), RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    assert!(svc.ready().await.unwrap().call("GET").await.is_err());
    assert_eq!(dep.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn max_total_time_stops_retrying_with_the_last_error() {
    let dep = Scripted::down().latency(20 * MS);
    let config = builder()
        .max_attempts(100)
        .max_total_time(Duration::from_millis(500))
        .min_attempt_time(20 * MS)
        .build()
        .unwrap();
    let policy = Policy::new(config, RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call("GET").await.unwrap_err();
    assert_eq!(
        io_kind(&err),
        Some(ConnectionRefused),
        "its own error, not a rejection"
    );
    // Attempts of 20 ms every 120 ms; the last one ends at 500 ms.
    assert_eq!(dep.start_ms(), [0, 120, 240, 360, 480]);
    assert!(start.elapsed() <= Duration::from_millis(500));
}

#[tokio::test(start_paused = true)]
async fn requests_that_cannot_be_cloned_are_not_retried() {
    let dep = Scripted::down();
    let policy = Policy::new(builder().build().unwrap(), RetryErrors);
    let layer = policy.layer().clone_requests_with(|_: &&'static str| None);
    let mut svc = ServiceBuilder::new().layer(layer).service(dep.clone());
    assert!(
        svc.ready()
            .await
            .unwrap()
            .call("POST stream")
            .await
            .is_err()
    );
    assert_eq!(dep.calls(), 1);
    assert_eq!(policy.metrics().gave_up, 1);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_is_the_least_delay() {
    let dep = Scripted::new(&[Ok(429), Ok(200)]);
    let policy = Policy::new(
        builder().build().unwrap(),
        |r: &Result<u16, std::io::Error>| match r {
            Ok(429) => Action::RetryAfter(Duration::from_secs(2)),
            _ => Action::Return,
        },
    );
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    assert_eq!(svc.ready().await.unwrap().call("GET").await.unwrap(), 200);
    assert_eq!(dep.start_ms(), [0, 2000]);
}

#[tokio::test(start_paused = true)]
async fn cancelling_mid_backoff_makes_no_further_attempt() {
    let dep = Scripted::down();
    let policy = Policy::new(builder().build().unwrap(), RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let call = svc.ready().await.unwrap().call("GET");
    // Dropped while waiting 100 ms before its first retry.
    let cut = tokio::time::timeout(Duration::from_millis(50), call).await;
    assert!(cut.is_err());
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(dep.calls(), 1);
    assert_eq!(
        policy.metrics().retries,
        0,
        "a retry is counted when it starts; this one never did"
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_mid_attempt_drops_the_attempt() {
    let dep = Scripted::down().latency(Duration::from_secs(1));
    let policy = Policy::new(builder().build().unwrap(), RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let call = svc.ready().await.unwrap().call("GET");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), call)
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(dep.calls(), 1);
    assert_eq!(policy.metrics().retries, 0);
}

#[tokio::test(start_paused = true)]
async fn clones_of_the_service_share_the_counts() {
    let dep = Scripted::new(&[Err(ConnectionRefused), Ok(200)]);
    let policy = Policy::new(builder().build().unwrap(), RetryErrors);
    let svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let (mut a, mut b) = (svc.clone(), svc);
    a.ready().await.unwrap().call("GET").await.unwrap();
    b.ready().await.unwrap().call("GET").await.unwrap();
    let m = policy.metrics();
    assert_eq!((m.calls, m.retries), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn the_service_builder_method_retries_under_the_shared_policy() {
    let dep = Scripted::new(&[Err(ConnectionRefused), Ok(200)]);
    let policy = Policy::new(builder().build().unwrap(), RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    assert_eq!(svc.ready().await.unwrap().call("GET").await.unwrap(), 200);
    assert_eq!(dep.start_ms(), [0, 100]);
    let m = policy.metrics();
    assert_eq!((m.calls, m.attempts, m.retries), (1, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn calls_of_dropped_clones_stay_counted_and_new_clones_add_to_them() {
    // The budget is on: the call count is the budget's deposits, which
    // each thread makes in a counter of its own.
    let dep = Scripted::new(&[Ok(200), Ok(200), Ok(200), Ok(200)]);
    let policy = Policy::new(ballast_retry::Config::default(), RetryErrors);
    let svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let mut a = svc.clone();
    a.ready().await.unwrap().call("GET").await.unwrap();
    a.ready().await.unwrap().call("GET").await.unwrap();
    assert_eq!(policy.metrics().calls, 2, "exact right after the calls");
    drop(a);
    assert_eq!(policy.metrics().calls, 2, "a dropped clone's calls left");
    let mut b = svc.clone();
    b.ready().await.unwrap().call("GET").await.unwrap();
    svc.oneshot("GET").await.unwrap();
    let m = policy.metrics();
    assert_eq!((m.calls, m.attempts, m.retries), (4, 4, 0));
}

#[tokio::test(start_paused = true)]
async fn without_a_budget_calls_of_dropped_clones_stay_counted() {
    // No budget: each thread counts calls in a counter of its own, which
    // the snapshot sums.
    let dep = Scripted::new(&[Ok(200), Err(ConnectionRefused), Ok(200), Ok(200), Ok(200)]);
    let config = ballast_retry::Config::builder()
        .no_budget()
        .build()
        .unwrap();
    let policy = Policy::new(config, RetryErrors);
    let svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let mut a = svc.clone();
    a.ready().await.unwrap().call("GET").await.unwrap();
    assert_eq!(policy.metrics().calls, 1, "exact right after the call");
    a.ready().await.unwrap().call("GET").await.unwrap();
    drop(a);
    let m = policy.metrics();
    assert_eq!((m.calls, m.attempts, m.retries), (2, 3, 1));
    let mut b = svc.clone();
    b.ready().await.unwrap().call("GET").await.unwrap();
    svc.oneshot("GET").await.unwrap();
    let m = policy.metrics();
    assert_eq!((m.calls, m.attempts, m.retries), (4, 5, 1));
}

//! A ballast layer below the breaker that refuses a call (a full bulkhead,
//! a rate limit) is not the dependency failing: the breaker does not count
//! it, so a local overload never trips the circuit. A passed deadline below
//! (a per-attempt timeout) still counts as a failure.

mod common;

use ballast_circuit_breaker::{BoxError, Reason, Rejected, State};
use common::breaker;
use std::time::Duration;
use tower::{Layer, ServiceExt, service_fn};

/// Calls a breaker over a service that always fails with `error()`, `n` times.
async fn fail_n(b: &ballast_circuit_breaker::Breaker, n: usize, error: fn() -> BoxError) {
    let svc = b
        .layer()
        .layer(service_fn(move |()| async move { Err::<(), _>(error()) }));
    for _ in 0..n {
        let _ = svc.clone().oneshot(()).await;
    }
}

#[tokio::test(start_paused = true)]
async fn refusals_by_layers_below_never_trip_the_circuit() {
    for reason in [
        Reason::BulkheadFull,
        Reason::QueueFull,
        Reason::QueueTimeout,
        Reason::Overloaded,
        Reason::RateLimited,
        Reason::CircuitOpen,
        Reason::CircuitForcedOpen,
    ] {
        let b = breaker(1);
        fail_n(
            &b,
            50,
            match reason {
                Reason::BulkheadFull => || Box::new(Rejected::retry_later(Reason::BulkheadFull)),
                Reason::QueueFull => || Box::new(Rejected::retry_later(Reason::QueueFull)),
                Reason::QueueTimeout => || Box::new(Rejected::retry_later(Reason::QueueTimeout)),
                Reason::Overloaded => || Box::new(Rejected::retry_later(Reason::Overloaded)),
                Reason::RateLimited => || {
                    Box::new(Rejected::retry_after(
                        Reason::RateLimited,
                        Duration::from_millis(5),
                    ))
                },
                Reason::CircuitOpen => || {
                    Box::new(Rejected::retry_after(
                        Reason::CircuitOpen,
                        Duration::from_secs(1),
                    ))
                },
                _ => || Box::new(Rejected::retry_later(Reason::CircuitForcedOpen)),
            },
        )
        .await;
        let m = b.metrics();
        assert_eq!(
            (m.state, m.calls, m.failures),
            (State::Closed, 0, 0),
            "{reason:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_deadline_passed_below_the_breaker_counts_as_a_failure() {
    let b = breaker(1);
    fail_n(&b, 50, || {
        Box::new(Rejected::retry_later(Reason::DeadlineExceeded))
    })
    .await;
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_half_open_probe_refused_below_gives_its_slot_back() {
    let b = breaker(1);
    fail_n(&b, 50, || Box::new(std::io::Error::other("down"))).await;
    assert_eq!(b.state(), State::Open);
    tokio::time::advance(common::WAIT).await;
    // The probe is refused by a layer below: the circuit neither closes
    // nor reopens, and the next call may probe.
    fail_n(&b, 1, || {
        Box::new(Rejected::retry_later(Reason::BulkheadFull))
    })
    .await;
    assert_eq!(b.state(), State::HalfOpen);
    let ok = b
        .layer()
        .layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
    ok.oneshot(()).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

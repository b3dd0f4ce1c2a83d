//! The operator's handle: metrics snapshots and the manual controls
//! (force open, force closed, reset, disable, metrics only), each of which
//! emits a `Manual` state change.

mod common;

use ballast_circuit_breaker::{Breaker, CallError, Cause, Reason, RetryAfter, State};
use common::{WAIT, builder, record_events, trip};
use std::io;
use std::time::Duration;
use tokio::time::advance;

/// The config of `common::builder` with 1 probe, named "payments".
fn breaker() -> Breaker {
    Breaker::new(builder(1).name("payments").build().unwrap())
}

fn fail(b: &Breaker) {
    b.try_acquire().expect("admitted").failure();
}

fn succeed(b: &Breaker) {
    b.try_acquire().expect("admitted").success();
}

#[tokio::test(start_paused = true)]
async fn metrics_snapshot_reports_calls_failures_rate_rejections_and_trips() {
    let b = breaker();
    let m = b.metrics();
    assert_eq!(
        (m.state, m.calls, m.failures, m.rejected),
        (State::Closed, 0, 0, 0)
    );
    assert_eq!((m.failure_rate, m.consecutive_trips), (0.0, 0));

    for _ in 0..3 {
        succeed(&b);
    }
    fail(&b);
    fail(&b);
    let m = b.metrics();
    assert_eq!((m.calls, m.failures, m.failure_rate), (5, 2, 40.0));
    assert_eq!(m.state, State::Closed);

    fail(&b);
    // 3 of 6 failed: open. The window keeps what tripped it.
    let m = b.metrics();
    assert_eq!(
        (m.state, m.calls, m.failures, m.failure_rate),
        (State::Open, 6, 3, 50.0)
    );
    assert_eq!(m.consecutive_trips, 1);

    for _ in 0..3 {
        assert!(b.try_acquire().is_err());
    }
    let r = b.call(|| async { Ok::<_, io::Error>(()) }).await;
    assert!(matches!(r, Err(CallError::Rejected(_))));
    assert_eq!(b.metrics().rejected, 4);

    advance(WAIT).await;
    let probe = b.try_acquire().unwrap();
    let m = b.metrics();
    assert_eq!((m.state, m.half_open_probes), (State::HalfOpen, 1));
    probe.success();
    let m = b.metrics();
    assert_eq!((m.state, m.calls, m.failures), (State::Closed, 0, 0));
    assert_eq!((m.consecutive_trips, m.rejected), (0, 4));
}

#[tokio::test(start_paused = true)]
async fn force_open_rejects_every_call_with_forced_open_and_no_retry_after_hint() {
    let b = breaker();
    let log = record_events(&b);
    b.force_open();
    assert_eq!(b.state(), State::ForcedOpen);
    for _ in 0..3 {
        let r = b.try_acquire().unwrap_err();
        assert_eq!(r.reason(), Reason::CircuitForcedOpen);
        assert_eq!(r.retry_after_hint(), None);
        assert_eq!(r.retry_after_value(), RetryAfter::Unknown);
        assert!(!r.is_permanent());
        assert_eq!(r.to_string(), "circuit forced open");
        advance(Duration::from_secs(3600)).await;
    }
    assert_eq!(b.state(), State::ForcedOpen, "no wait ends a forced open");
    assert_eq!(b.metrics().rejected, 3);
    let e = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (e.from, e.to, e.cause),
        (State::Closed, State::ForcedOpen, Cause::Manual)
    );
    assert_eq!(e.open_for, None);
}

#[tokio::test(start_paused = true)]
async fn force_closed_closes_an_open_circuit_with_an_empty_window() {
    let b = breaker();
    let log = record_events(&b);
    trip(&b);
    b.force_closed();
    let m = b.metrics();
    assert_eq!((m.state, m.calls, m.failures), (State::Closed, 0, 0));
    succeed(&b);
    let e = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (e.from, e.to, e.cause),
        (State::Open, State::Closed, Cause::Manual)
    );
    // It still trips on failures: 3 of 4.
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn force_closed_ends_a_forced_open() {
    let b = breaker();
    b.force_open();
    b.force_closed();
    assert_eq!(b.state(), State::Closed);
    succeed(&b);
}

#[tokio::test(start_paused = true)]
async fn reset_returns_to_a_fresh_closed_breaker() {
    let b = breaker();
    trip(&b);
    advance(WAIT).await;
    fail(&b); // the probe fails: a second consecutive trip
    assert_eq!(b.metrics().consecutive_trips, 2);
    b.reset();
    let m = b.metrics();
    assert_eq!((m.state, m.calls, m.failures), (State::Closed, 0, 0));
    assert_eq!(m.consecutive_trips, 0);
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Closed, "the window starts empty");
}

#[tokio::test(start_paused = true)]
async fn disable_admits_every_call_and_records_nothing() {
    let b = breaker();
    trip(&b);
    let rejected = b.metrics().rejected;
    b.disable();
    assert_eq!(b.state(), State::Disabled);
    for _ in 0..50 {
        fail(&b);
        let r = b
            .call(|| async { Err::<(), _>(io::Error::other("down")) })
            .await;
        assert!(matches!(r, Err(CallError::Inner(_))));
    }
    assert_eq!(b.state(), State::Disabled, "never trips");
    let m = b.metrics();
    assert_eq!(m.rejected, rejected, "nothing rejected");
    assert_eq!(
        m.failures, 4,
        "only what was there before: nothing recorded"
    );
}

#[tokio::test(start_paused = true)]
async fn leaving_disabled_resumes_tripping() {
    let b = breaker();
    b.disable();
    for _ in 0..10 {
        fail(&b);
    }
    b.force_closed();
    trip(&b);
}

#[tokio::test(start_paused = true)]
async fn metrics_only_records_outcomes_but_never_trips() {
    let b = breaker();
    b.metrics_only();
    assert_eq!(b.state(), State::MetricsOnly);
    for _ in 0..25 {
        fail(&b);
    }
    succeed(&b);
    let m = b.metrics();
    assert_eq!(m.state, State::MetricsOnly);
    assert_eq!((m.calls, m.failures, m.failure_rate), (10, 9, 90.0));
    assert_eq!((m.rejected, m.consecutive_trips), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn metrics_only_starts_with_an_empty_window() {
    let b = breaker();
    trip(&b);
    b.metrics_only();
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (0, 0));
    succeed(&b);
    assert_eq!(b.metrics().calls, 1);
}

#[tokio::test(start_paused = true)]
async fn outcomes_of_calls_admitted_before_a_control_are_dropped() {
    let b = breaker();
    let permits: Vec<_> = (0..4).map(|_| b.try_acquire().unwrap()).collect();
    b.force_closed();
    for p in permits {
        p.failure();
    }
    let m = b.metrics();
    assert_eq!((m.state, m.calls, m.failures), (State::Closed, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn operator_controls_emit_manual_events_in_order() {
    let b = breaker();
    let log = record_events(&b);
    b.force_open();
    b.disable();
    b.metrics_only();
    b.force_closed();
    b.reset();
    let got: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|e| (e.from, e.to, e.cause, e.name.to_string()))
        .collect();
    let manual = |from, to| (from, to, Cause::Manual, "payments".to_string());
    assert_eq!(
        got,
        [
            manual(State::Closed, State::ForcedOpen),
            manual(State::ForcedOpen, State::Disabled),
            manual(State::Disabled, State::MetricsOnly),
            manual(State::MetricsOnly, State::Closed),
            manual(State::Closed, State::Closed),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn clones_of_the_handle_control_one_breaker() {
    let b = breaker();
    let ops = b.clone();
    trip(&b);
    assert_eq!(ops.state(), State::Open);
    ops.force_closed();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(ops.config().name(), "payments");
    assert!(format!("{b:?}").contains("payments"));
}

#[test]
fn states_have_lowercase_names() {
    let names: Vec<_> = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::Recovering,
        State::Disabled,
        State::ForcedOpen,
        State::MetricsOnly,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        names,
        [
            "closed",
            "open",
            "half_open",
            "recovering",
            "disabled",
            "forced_open",
            "metrics_only"
        ]
    );
    assert!(State::Disabled.admits_all() && State::MetricsOnly.admits_all());
    assert!(!State::Open.admits_all() && !State::HalfOpen.admits_all());
}

//! Cancellation and panics: whatever a call holds is released however the
//! call ends. A dropped call gives back its half-open probe slot and counts
//! as nothing (or as a failure with `cancelled_is_failure`); a panic counts
//! as a failure; a permit dropped unused gives back its slot.

mod common;

use ballast_circuit_breaker::{BoxError, Breaker, CallError, Cause, Reason, State};
use common::{WAIT, breaker, builder, record_events, rejection, trip};
use futures::FutureExt;
use std::future::{Future, pending};
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::advance;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// Trips `b` and lets the open wait pass: the next call is a probe.
async fn to_half_open(b: &Breaker) {
    trip(b);
    advance(WAIT).await;
}

/// A service whose call hangs forever when asked to, and succeeds otherwise.
type Svc = Pin<Box<dyn Future<Output = Result<&'static str, io::Error>> + Send>>;

fn hanging_service(
    b: &Breaker,
) -> impl Service<bool, Response = &'static str, Error = BoxError, Future: Send + Unpin> + Clone {
    ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(|hang: bool| -> Svc {
            Box::pin(async move {
                if hang {
                    pending::<()>().await;
                }
                Ok("ok")
            })
        }))
}

/// Polls `fut` once; it must still be pending (the call is in flight).
fn poll_once<F: Future + Unpin>(fut: &mut F) {
    assert!(fut.now_or_never().is_none(), "the call should be in flight");
}

async fn explode() -> Result<(), io::Error> {
    panic!("the call panicked")
}

#[tokio::test(start_paused = true)]
async fn dropping_a_layer_response_future_in_half_open_gives_back_the_probe_slot() {
    let b = breaker(1);
    let mut svc = hanging_service(&b);
    let mut other = svc.clone();
    to_half_open(&b).await;

    let mut probe = svc.ready().await.unwrap().call(true);
    poll_once(&mut probe);
    assert_eq!(b.state(), State::HalfOpen);
    let busy = other.ready().await.unwrap().call(false).await.unwrap_err();
    assert_eq!(rejection(&busy).reason(), Reason::CircuitHalfOpenBusy);

    drop(probe);
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "a cancelled probe decides nothing"
    );
    assert_eq!(b.metrics().half_open_probes, 0);
    // A later caller can probe: the breaker is not stuck.
    other.ready().await.unwrap().call(false).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_probe_cancelled_by_a_timeout_gives_back_its_slot() {
    let b = breaker(1);
    let mut svc = hanging_service(&b);
    to_half_open(&b).await;
    let call = svc.ready().await.unwrap().call(true);
    let timed_out = tokio::time::timeout(Duration::from_secs(2), call).await;
    assert!(timed_out.is_err());
    assert_eq!(b.state(), State::HalfOpen);
    svc.ready().await.unwrap().call(false).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn dropped_layer_calls_are_not_counted_as_failures_by_default() {
    let b = breaker(1);
    let mut svc = hanging_service(&b);
    for _ in 0..10 {
        let mut call = svc.ready().await.unwrap().call(true);
        poll_once(&mut call);
    }
    let m = b.metrics();
    assert_eq!((m.state, m.calls, m.failures), (State::Closed, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn dropped_layer_calls_count_as_failures_with_cancelled_is_failure() {
    let b = Breaker::new(builder(1).cancelled_is_failure(true).build().unwrap());
    let mut svc = hanging_service(&b);
    for _ in 0..4 {
        let mut call = svc.ready().await.unwrap().call(true);
        poll_once(&mut call);
    }
    assert_eq!(b.metrics().failures, 4);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_counts_as_failed_with_cancelled_is_failure() {
    let b = Breaker::new(builder(1).cancelled_is_failure(true).build().unwrap());
    let log = record_events(&b);
    let mut svc = hanging_service(&b);
    to_half_open(&b).await;
    let mut probe = svc.ready().await.unwrap().call(true);
    poll_once(&mut probe);
    drop(probe);
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        log.lock().unwrap().last().unwrap().cause,
        Cause::ProbesFailed {
            failure_rate: 100.0,
            slow_call_rate: 0.0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_helper_future_in_half_open_gives_back_the_probe_slot() {
    let b = breaker(1);
    to_half_open(&b).await;
    let mut call = Box::pin(b.call(pending::<Result<(), io::Error>>));
    poll_once(&mut call);
    let busy = b.try_acquire().expect_err("the probe slot is taken");
    assert_eq!(busy.reason(), Reason::CircuitHalfOpenBusy);

    drop(call);
    assert_eq!(b.state(), State::HalfOpen);
    b.call(|| async { Ok::<_, io::Error>(()) }).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn dropped_helper_calls_are_not_counted_as_failures_by_default() {
    let b = breaker(1);
    for _ in 0..10 {
        let mut call = Box::pin(b.call(pending::<Result<(), io::Error>>));
        poll_once(&mut call);
    }
    let m = b.metrics();
    assert_eq!((m.state, m.calls, m.failures), (State::Closed, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn dropped_helper_calls_count_as_failures_with_cancelled_is_failure() {
    let b = Breaker::new(builder(1).cancelled_is_failure(true).build().unwrap());
    for _ in 0..4 {
        let mut call = Box::pin(b.call(pending::<Result<(), io::Error>>));
        poll_once(&mut call);
    }
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_helper_future_dropped_before_it_is_polled_holds_nothing() {
    let b = breaker(1);
    to_half_open(&b).await;
    let never_polled = b.call(|| async { Ok::<_, io::Error>(()) });
    assert!(b.try_acquire().is_ok(), "the probe slot is free");
    drop(never_polled);
}

#[tokio::test(start_paused = true)]
async fn a_panic_inside_the_helper_future_records_a_failure() {
    let b = breaker(1);
    let caught = AssertUnwindSafe(b.call(explode)).catch_unwind().await;
    assert!(caught.is_err(), "the panic reaches the caller");
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_probe_reopens_half_open_instead_of_holding_the_slot() {
    let b = breaker(1);
    let log = record_events(&b);
    to_half_open(&b).await;
    let caught = AssertUnwindSafe(b.call(explode)).catch_unwind().await;
    assert!(caught.is_err());
    assert_eq!(b.state(), State::Open);
    assert!(matches!(
        log.lock().unwrap().last().unwrap().cause,
        Cause::ProbesFailed { .. }
    ));
}

/// A panic inside the inner service's future, caught around the layer's
/// future (as tower-http's `CatchPanic` or a task harness would).
#[tokio::test(start_paused = true)]
async fn a_panic_inside_a_layer_call_records_a_failure() {
    let b = breaker(1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(|_: ()| explode()));
    let call = svc.ready().await.unwrap().call(());
    let caught = AssertUnwindSafe(call).catch_unwind().await;
    assert!(caught.is_err(), "the panic reaches the caller");
    let m = b.metrics();
    assert_eq!(
        (m.calls, m.failures),
        (1, 1),
        "a panicked call must count as a failure, not as a cancellation"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_inside_a_layer_call_reopens_half_open() {
    let b = breaker(1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(|_: ()| explode()));
    to_half_open(&b).await;
    let call = svc.ready().await.unwrap().call(());
    let caught = AssertUnwindSafe(call).catch_unwind().await;
    assert!(caught.is_err());
    assert_eq!(b.state(), State::Open, "a panicked probe is a failed probe");
}

/// A service whose `call` itself panics, before it returns a future.
fn panicking_call(_: ()) -> std::future::Ready<Result<(), io::Error>> {
    panic!("the call panicked before returning a future")
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_inner_call_itself_records_a_failure() {
    let b = breaker(1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(panicking_call));
    svc.ready().await.unwrap();
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| svc.call(())));
    assert!(caught.is_err(), "the panic reaches the caller");
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_probe_whose_inner_call_panics_reopens_half_open() {
    let b = breaker(1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(panicking_call));
    to_half_open(&b).await;
    svc.ready().await.unwrap();
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| svc.call(())));
    assert!(caught.is_err());
    assert_eq!(
        b.state(),
        State::Open,
        "the probe's slot is not held forever"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_inside_a_spawned_layer_call_records_a_failure() {
    let b = breaker(1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(|_: ()| explode()));
    let call = svc.ready().await.unwrap().call(());
    let joined = tokio::spawn(call).await;
    assert!(joined.unwrap_err().is_panic());
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_permit_dropped_without_recording_gives_back_its_slot() {
    let b = breaker(2);
    to_half_open(&b).await;
    let first = b.try_acquire().unwrap();
    let second = b.try_acquire().unwrap();
    assert_eq!(
        b.try_acquire().unwrap_err().reason(),
        Reason::CircuitHalfOpenBusy
    );
    drop(first);
    assert_eq!(b.state(), State::HalfOpen);
    let third = b.try_acquire().expect("the dropped permit's slot");
    second.success();
    third.success();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_permit_dropped_without_recording_counts_nothing_by_default() {
    let b = breaker(1);
    for _ in 0..10 {
        drop(b.try_acquire().unwrap());
    }
    assert_eq!(b.metrics().calls, 0);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_permit_dropped_without_recording_counts_as_failure_with_cancelled_is_failure() {
    let b = Breaker::new(builder(1).cancelled_is_failure(true).build().unwrap());
    for _ in 0..4 {
        drop(b.try_acquire().unwrap());
    }
    assert_eq!(b.metrics().failures, 4);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_permit_dropped_while_its_thread_panics_records_a_failure() {
    let b = breaker(1);
    let permit = b.try_acquire().unwrap();
    let caught = std::panic::catch_unwind(AssertUnwindSafe(move || {
        let _held = permit;
        panic!("the caller panicked while holding a permit");
    }));
    assert!(caught.is_err());
    assert_eq!(b.metrics().failures, 1);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_helper_call_never_runs_and_holds_nothing() {
    let b = breaker(1);
    trip(&b);
    let r = b.call(explode).await;
    assert!(matches!(r, Err(CallError::Rejected(_))));
    advance(WAIT).await;
    assert!(b.try_acquire().is_ok());
}

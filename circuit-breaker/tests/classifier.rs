//! Classifiers decide what counts: a closure on the layer, a classifier
//! passed to `Breaker::call_classified`, and the default (every `Err` is a
//! failure, every `Ok` a success).

mod common;

use ballast_circuit_breaker::{
    CallError, Classifier, ErrorsAreFailures, Outcome, Reason, Rejected, State,
};
use common::{WAIT, breaker, trip};
use std::io::{self, ErrorKind};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// An HTTP-ish dependency: the request is the status it answers with;
/// 0 means "not found" as an error, 1 a connection error.
fn dependency(status: u16) -> Result<u16, io::Error> {
    match status {
        0 => Err(io::Error::new(ErrorKind::NotFound, "no such item")),
        1 => Err(io::Error::new(ErrorKind::ConnectionRefused, "refused")),
        s => Ok(s),
    }
}

/// 5xx answers are failures; "not found" is the caller's business.
fn http_classifier(r: &Result<u16, io::Error>) -> Outcome {
    match r {
        Ok(status) if *status >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(e) if e.kind() == ErrorKind::NotFound => Outcome::Ignore,
        Err(_) => Outcome::Failure,
    }
}

#[tokio::test(start_paused = true)]
async fn layer_closure_classifier_counts_a_failure_on_an_ok_response() {
    let b = breaker(1);
    let layer = b.layer().classifier(|r: &Result<u16, io::Error>| match r {
        Ok(status) if *status >= 500 => Outcome::Failure,
        Ok(_) | Err(_) => Outcome::Success,
    });
    let mut svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|s: u16| async move { dependency(s) }));
    for status in [503, 200, 500] {
        let answer = svc.ready().await.unwrap().call(status).await.unwrap();
        assert_eq!(answer, status, "the response itself is passed through");
    }
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (3, 2));
    svc.ready().await.unwrap().call(502).await.unwrap();
    assert_eq!(b.state(), State::Open, "3 failing Ok responses of 4");
}

#[tokio::test(start_paused = true)]
async fn layer_closure_classifier_ignore_counts_nothing() {
    let b = breaker(1);
    let layer = b.layer().classifier(|r: &Result<u16, io::Error>| match r {
        Err(e) if e.kind() == ErrorKind::NotFound => Outcome::Ignore,
        _ => http_classifier(r),
    });
    let mut svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|s: u16| async move { dependency(s) }));
    for _ in 0..20 {
        let err = svc.ready().await.unwrap().call(0).await.unwrap_err();
        assert!(err.downcast_ref::<Rejected>().is_none());
        let io = err.downcast_ref::<io::Error>().expect("the inner error");
        assert_eq!(io.kind(), ErrorKind::NotFound);
    }
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(
        (m.calls, m.failures),
        (0, 0),
        "ignored calls are not in the window"
    );
}

#[tokio::test(start_paused = true)]
async fn default_layer_counts_every_err_as_failure_and_every_ok_as_success() {
    let b = breaker(1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(|s: u16| async move { dependency(s) }));
    // A 503 is an Ok: a success to the default classifier.
    svc.ready().await.unwrap().call(503).await.unwrap();
    // "Not found" is an Err: a failure.
    svc.ready().await.unwrap().call(0).await.unwrap_err();
    svc.ready().await.unwrap().call(1).await.unwrap_err();
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (3, 2));
    svc.ready().await.unwrap().call(0).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn call_classified_counts_a_failure_on_an_ok_value() {
    let b = breaker(1);
    for _ in 0..4 {
        let r = b
            .call_classified(&http_classifier, || async { dependency(503) })
            .await;
        assert_eq!(r.unwrap(), 503);
    }
    assert_eq!(b.state(), State::Open);
    let r = b
        .call_classified(&http_classifier, || async { dependency(200) })
        .await;
    assert_eq!(
        r.unwrap_err().rejected().unwrap().reason(),
        Reason::CircuitOpen
    );
}

#[tokio::test(start_paused = true)]
async fn call_classified_ignore_counts_nothing() {
    let b = breaker(1);
    let ignore_all = |_: &Result<u16, io::Error>| Outcome::Ignore;
    for _ in 0..10 {
        let r = b
            .call_classified(&ignore_all, || async { dependency(1) })
            .await;
        assert!(matches!(r, Err(CallError::Inner(_))));
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().calls, 0);
}

#[tokio::test(start_paused = true)]
async fn call_classified_can_count_an_err_as_success() {
    let b = breaker(1);
    // A business error ("insufficient funds") says nothing about the dependency.
    let business_errors_are_fine = |_: &Result<(), io::Error>| Outcome::Success;
    for _ in 0..10 {
        let r = b
            .call_classified(&business_errors_are_fine, || async {
                Err(io::Error::new(
                    ErrorKind::InvalidInput,
                    "insufficient funds",
                ))
            })
            .await;
        assert!(r.is_err());
    }
    let m = b.metrics();
    assert_eq!((m.calls, m.failures, m.state), (10, 0, State::Closed));
}

#[tokio::test(start_paused = true)]
async fn call_counts_every_err_as_failure() {
    let b = breaker(1);
    for _ in 0..3 {
        b.call(|| async { dependency(0) }).await.unwrap_err();
        assert_eq!(b.state(), State::Closed);
    }
    b.call(|| async { dependency(200) }).await.unwrap();
    assert_eq!(b.metrics().failures, 3);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn an_ignored_probe_gives_back_its_slot_and_decides_nothing() {
    let b = breaker(1);
    trip(&b);
    tokio::time::advance(WAIT).await;
    let r = b
        .call_classified(&http_classifier, || async { dependency(0) })
        .await;
    assert!(matches!(r, Err(CallError::Inner(_))));
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "an ignored probe decides nothing"
    );
    assert_eq!(b.metrics().half_open_probes, 0, "its slot is free again");
    b.call_classified(&http_classifier, || async { dependency(200) })
        .await
        .unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_named_type_can_be_a_classifier() {
    #[derive(Clone)]
    struct OnlyTimeouts;
    impl<T> Classifier<T, io::Error> for OnlyTimeouts {
        fn classify(&self, r: &Result<T, io::Error>) -> Outcome {
            match r {
                Err(e) if e.kind() == ErrorKind::TimedOut => Outcome::Failure,
                Err(_) => Outcome::Ignore,
                Ok(_) => Outcome::Success,
            }
        }
    }
    let timed_out: Result<(), _> = Err(io::Error::from(ErrorKind::TimedOut));
    assert_eq!(OnlyTimeouts.classify(&timed_out), Outcome::Failure);
    assert_eq!(
        ErrorsAreFailures.classify(&Err::<(), _>(io::Error::other("x"))),
        Outcome::Failure
    );
    assert_eq!(
        ErrorsAreFailures.classify(&Ok::<_, io::Error>(())),
        Outcome::Success
    );
    let b = breaker(1);
    let _layer = b.layer().classifier(OnlyTimeouts);
}

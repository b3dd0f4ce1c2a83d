//! With feature `metrics`, a breaker reports its calls, refusals and
//! state through the `metrics` facade under the family's names, seen here
//! by a recording recorder through a real layered service.

use ballast_circuit_breaker::{Breaker, Config, Rejected};
use ballast_core::metric_names as names;
use ballast_test_support::metrics::Recording;
use std::time::Duration;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

#[tokio::test(start_paused = true)]
async fn a_layered_breaker_reports_calls_refusals_and_state() {
    let recording: &'static Recording = Box::leak(Box::default());
    let config = Config::builder()
        .name("inventory")
        .minimum_calls(2)
        .failure_rate_threshold(50.0)
        .wait_in_open(Duration::from_secs(30))
        .build()
        .unwrap();
    // The breaker registers its series when built, with the recorder of
    // that moment.
    let breaker = metrics::with_local_recorder(&recording, || Breaker::new(config));
    let with = |k: &'static str, v: &'static str| [("name", "inventory"), (k, v)];
    assert_eq!(
        recording.gauge(names::CIRCUIT_BREAKER_STATE, &with("state", "closed")),
        1.0
    );

    let mut svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(service_fn(|ok: bool| async move {
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::other("down"))
            }
        }));
    svc.ready().await.unwrap().call(true).await.unwrap();
    svc.ready().await.unwrap().call(false).await.unwrap_err();
    // Two calls, half failed: the circuit opened; the next call is refused.
    let err = svc.ready().await.unwrap().call(true).await.unwrap_err();
    assert!(Rejected::find(&err).is_some(), "{err}");

    let calls = names::CIRCUIT_BREAKER_CALLS;
    assert_eq!(recording.counter(calls, &with("outcome", "success")), 1);
    assert_eq!(recording.counter(calls, &with("outcome", "failure")), 1);
    assert_eq!(recording.counter(calls, &with("outcome", "ignored")), 0);
    let refusals = names::CIRCUIT_BREAKER_REFUSALS;
    assert_eq!(
        recording.counter(refusals, &with("reason", "circuit_open")),
        1
    );
    let state = names::CIRCUIT_BREAKER_STATE;
    assert_eq!(recording.gauge(state, &with("state", "open")), 1.0);
    assert_eq!(recording.gauge(state, &with("state", "closed")), 0.0);
    let transitions = names::CIRCUIT_BREAKER_TRANSITIONS;
    assert_eq!(recording.counter(transitions, &with("to", "open")), 1);
    // The snapshot the handle keeps agrees with what was reported.
    assert_eq!(breaker.metrics().rejected, 1);

    // An operator closes it: the gauges follow.
    breaker.force_closed();
    assert_eq!(recording.gauge(state, &with("state", "closed")), 1.0);
    assert_eq!(recording.gauge(state, &with("state", "open")), 0.0);
}

#[test]
fn a_breaker_built_without_a_recorder_reports_nothing_and_works() {
    let breaker = Breaker::new(Config::builder().name("quiet").build().unwrap());
    breaker.try_acquire().unwrap().success();
    assert_eq!(breaker.metrics().calls, 1);
}

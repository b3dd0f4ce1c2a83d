//! With feature `metrics`, the timeout layer reports each call's outcome
//! (within its deadline, exceeded, refused before it started, unbounded)
//! through the `metrics` facade under the family's names, seen by a
//! recording recorder through a real layered service.

use ballast_core::metric_names as names;
use ballast_deadline::{Config, Deadline, Rejected, TimeoutLayer};
use ballast_test_support::metrics::Recording;
use std::time::Duration;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// A dependency that answers after the request's number of milliseconds.
fn sleeper() -> impl Service<u64, Response = u64, Error = std::io::Error> + Clone {
    service_fn(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(ms)
    })
}

#[tokio::test(start_paused = true)]
async fn a_layered_timeout_reports_each_outcome() {
    let recording: &'static Recording = Box::leak(Box::default());
    let config = Config::builder()
        .name("inventory")
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let layer = metrics::with_local_recorder(&recording, || TimeoutLayer::new(config));
    let mut svc = ServiceBuilder::new().layer(layer).service(sleeper());

    svc.ready().await.unwrap().call(10).await.unwrap();
    let err = svc.ready().await.unwrap().call(1000).await.unwrap_err();
    assert!(Rejected::find(&err).is_some(), "{err}");
    // A caller whose deadline has passed: refused before the call starts.
    let past = Deadline::after(Duration::ZERO);
    tokio::time::advance(Duration::from_millis(1)).await;
    let err = past
        .scope(async { svc.ready().await.unwrap().call(10).await })
        .await
        .unwrap_err();
    assert!(Rejected::find(&err).is_some(), "{err}");

    let with = |o: &'static str| [("name", "inventory"), ("outcome", o)];
    let calls = names::DEADLINE_CALLS;
    assert_eq!(recording.counter(calls, &with("within")), 1);
    assert_eq!(recording.counter(calls, &with("exceeded")), 1);
    assert_eq!(recording.counter(calls, &with("refused")), 1);
    assert_eq!(recording.counter(calls, &with("unbounded")), 0);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_with_nothing_to_enforce_reports_unbounded_calls_under_its_default_name() {
    let recording: &'static Recording = Box::leak(Box::default());
    let layer = metrics::with_local_recorder(&recording, || TimeoutLayer::new(Config::default()));
    let mut svc = ServiceBuilder::new().layer(layer).service(sleeper());
    svc.ready().await.unwrap().call(10).await.unwrap();
    let unbounded = [("name", "timeout"), ("outcome", "unbounded")];
    assert_eq!(recording.counter(names::DEADLINE_CALLS, &unbounded), 1);
    let within = [("name", "timeout"), ("outcome", "within")];
    assert_eq!(recording.counter(names::DEADLINE_CALLS, &within), 0);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_built_without_a_recorder_reports_nothing_and_works() {
    let config = Config::with_timeout(Duration::from_millis(100)).unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(config))
        .service(sleeper());
    assert_eq!(svc.ready().await.unwrap().call(10).await.unwrap(), 10);
}

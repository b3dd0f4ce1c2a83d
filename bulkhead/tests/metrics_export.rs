//! With feature `metrics`, a fixed bulkhead reports its admitted calls,
//! refusals, calls in flight and its limit through the `metrics` facade
//! under the family's names, seen by a recording recorder through a real
//! layered service.

use ballast_bulkhead::{Bulkhead, Config, Rejected};
use ballast_core::metric_names as names;
use ballast_test_support::metrics::Recording;
use tokio::sync::{mpsc, oneshot};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

#[tokio::test(start_paused = true)]
async fn a_layered_bulkhead_reports_calls_refusals_in_flight_and_limit() {
    let recording: &'static Recording = Box::leak(Box::default());
    let config = Config::builder()
        .name("payments")
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let bulkhead = metrics::with_local_recorder(&recording, || Bulkhead::new(config));
    let n = [("name", "payments")];
    let with = |k: &'static str, v: &'static str| [("name", "payments"), (k, v)];
    assert_eq!(recording.gauge(names::BULKHEAD_LIMIT, &n), 1.0);
    assert_eq!(recording.gauge(names::BULKHEAD_IN_FLIGHT, &n), 0.0);

    // The handler says when it runs, then waits for its gate.
    let (entered_tx, mut entered) = mpsc::unbounded_channel::<()>();
    let svc = ServiceBuilder::new()
        .layer(bulkhead.layer())
        .service(service_fn(move |gate: oneshot::Receiver<()>| {
            let entered_tx = entered_tx.clone();
            async move {
                entered_tx.send(()).unwrap();
                gate.await.ok();
                Ok::<_, std::io::Error>(())
            }
        }));
    let (open, gate) = oneshot::channel();
    let first = tokio::spawn(svc.clone().oneshot(gate));
    entered.recv().await.unwrap();
    assert_eq!(recording.gauge(names::BULKHEAD_IN_FLIGHT, &n), 1.0);

    // The permit is taken: the next call is refused as full.
    let (_never, gate) = oneshot::channel();
    let err = svc
        .clone()
        .ready()
        .await
        .unwrap()
        .call(gate)
        .await
        .unwrap_err();
    assert!(Rejected::find(&err).is_some(), "{err}");
    let refusals = names::BULKHEAD_REFUSALS;
    assert_eq!(
        recording.counter(refusals, &with("reason", "bulkhead_full")),
        1
    );
    assert_eq!(
        recording.counter(refusals, &with("reason", "queue_full")),
        0
    );

    open.send(()).unwrap();
    first.await.unwrap().unwrap();
    assert_eq!(recording.gauge(names::BULKHEAD_IN_FLIGHT, &n), 0.0);
    assert_eq!(recording.counter(names::BULKHEAD_CALLS, &n), 1);
    assert_eq!(bulkhead.snapshot().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn a_layered_adaptive_limiter_reports_calls_refusals_in_flight_and_its_moving_limit() {
    use ballast_bulkhead::adaptive::{AdaptiveConfig, AdaptiveLimiter};
    let recording: &'static Recording = Box::leak(Box::default());
    let config = AdaptiveConfig::builder()
        .name("search")
        .initial_limit(1)
        .min_limit(1)
        .build()
        .unwrap();
    let limiter = metrics::with_local_recorder(&recording, || AdaptiveLimiter::new(config));
    let n = [("name", "search")];
    let with = |k: &'static str, v: &'static str| [("name", "search"), (k, v)];
    assert_eq!(recording.gauge(names::BULKHEAD_LIMIT, &n), 1.0);

    let (entered_tx, mut entered) = mpsc::unbounded_channel::<()>();
    let svc = ServiceBuilder::new()
        .layer(limiter.layer())
        .service(service_fn(move |gate: oneshot::Receiver<()>| {
            let entered_tx = entered_tx.clone();
            async move {
                entered_tx.send(()).unwrap();
                gate.await.ok();
                Ok::<_, std::io::Error>(())
            }
        }));
    let (open, gate) = oneshot::channel();
    let first = tokio::spawn(svc.clone().oneshot(gate));
    entered.recv().await.unwrap();
    assert_eq!(recording.gauge(names::BULKHEAD_IN_FLIGHT, &n), 1.0);

    // The limit is used up: the next call is refused as overloaded.
    let (_never, gate) = oneshot::channel();
    let err = svc.clone().oneshot(gate).await.unwrap_err();
    assert!(Rejected::find(&err).is_some(), "{err}");
    let refusals = names::BULKHEAD_REFUSALS;
    assert_eq!(
        recording.counter(refusals, &with("reason", "overloaded")),
        1
    );

    open.send(()).unwrap();
    first.await.unwrap().unwrap();
    assert_eq!(recording.gauge(names::BULKHEAD_IN_FLIGHT, &n), 0.0);
    assert_eq!(recording.counter(names::BULKHEAD_CALLS, &n), 1);

    // An operator moves the limit: the gauge follows.
    limiter.set_limit(4);
    assert_eq!(recording.gauge(names::BULKHEAD_LIMIT, &n), 4.0);
    assert_eq!(limiter.snapshot().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn a_layered_load_shedder_reports_calls_refusals_in_flight_and_limit() {
    use ballast_bulkhead::shed::{LoadShedder, Priority, ShedConfig};
    let recording: &'static Recording = Box::leak(Box::default());
    let config = ShedConfig::builder()
        .name("handlers")
        .max_in_flight(1)
        .build()
        .unwrap();
    let shedder = metrics::with_local_recorder(&recording, || LoadShedder::new(config));
    let n = [("name", "handlers")];
    let with = |k: &'static str, v: &'static str| [("name", "handlers"), (k, v)];
    assert_eq!(recording.gauge(names::BULKHEAD_LIMIT, &n), 1.0);

    let (entered_tx, mut entered) = mpsc::unbounded_channel::<()>();
    let svc = ServiceBuilder::new()
        .layer(shedder.layer(|_: &oneshot::Receiver<()>| Priority::Critical))
        .service(service_fn(move |gate: oneshot::Receiver<()>| {
            let entered_tx = entered_tx.clone();
            async move {
                entered_tx.send(()).unwrap();
                gate.await.ok();
                Ok::<_, std::io::Error>(())
            }
        }));
    let (open, gate) = oneshot::channel();
    let first = tokio::spawn(svc.clone().oneshot(gate));
    entered.recv().await.unwrap();
    assert_eq!(recording.gauge(names::BULKHEAD_IN_FLIGHT, &n), 1.0);

    // The only place is taken: the next call is shed.
    let (_never, gate) = oneshot::channel();
    let err = svc.clone().oneshot(gate).await.unwrap_err();
    assert!(Rejected::find(&err).is_some(), "{err}");
    let refusals = names::BULKHEAD_REFUSALS;
    assert_eq!(
        recording.counter(refusals, &with("reason", "overloaded")),
        1
    );

    open.send(()).unwrap();
    first.await.unwrap().unwrap();
    assert_eq!(recording.gauge(names::BULKHEAD_IN_FLIGHT, &n), 0.0);
    assert_eq!(recording.counter(names::BULKHEAD_CALLS, &n), 1);
    assert_eq!(shedder.snapshot().shed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_layered_partitioned_bulkhead_reports_calls_refusals_in_flight_and_limit() {
    use ballast_bulkhead::partitioned::{PartitionedBulkhead, PartitionedConfig};
    let recording: &'static Recording = Box::leak(Box::default());
    let config = PartitionedConfig::builder()
        .name("tenants")
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let bulkhead = metrics::with_local_recorder(&recording, || PartitionedBulkhead::new(config));
    let n = [("name", "tenants")];
    let with = |k: &'static str, v: &'static str| [("name", "tenants"), (k, v)];
    assert_eq!(recording.gauge(names::BULKHEAD_LIMIT, &n), 1.0);

    let (entered_tx, mut entered) = mpsc::unbounded_channel::<()>();
    // Every request in the default partition, which holds the whole limit.
    let default = bulkhead.partition("any tenant");
    let svc = ServiceBuilder::new()
        .layer(bulkhead.layer(move |_: &oneshot::Receiver<()>| default))
        .service(service_fn(move |gate: oneshot::Receiver<()>| {
            let entered_tx = entered_tx.clone();
            async move {
                entered_tx.send(()).unwrap();
                gate.await.ok();
                Ok::<_, std::io::Error>(())
            }
        }));
    let (open, gate) = oneshot::channel();
    let first = tokio::spawn(svc.clone().oneshot(gate));
    entered.recv().await.unwrap();
    assert_eq!(recording.gauge(names::BULKHEAD_IN_FLIGHT, &n), 1.0);

    let (_never, gate) = oneshot::channel();
    let err = svc.clone().oneshot(gate).await.unwrap_err();
    assert!(Rejected::find(&err).is_some(), "{err}");
    let refusals = names::BULKHEAD_REFUSALS;
    assert_eq!(
        recording.counter(refusals, &with("reason", "bulkhead_full")),
        1
    );

    open.send(()).unwrap();
    first.await.unwrap().unwrap();
    assert_eq!(recording.gauge(names::BULKHEAD_IN_FLIGHT, &n), 0.0);
    assert_eq!(recording.counter(names::BULKHEAD_CALLS, &n), 1);
}

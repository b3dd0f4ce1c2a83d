//! With feature `metrics`, a retry policy reports its calls by outcome,
//! retries, give-ups, budget refusals and budget left, and a hedge policy
//! its backups, through the `metrics` facade under the family's names,
//! seen by a recording recorder through real layered services.

use ballast_core::metric_names as names;
use ballast_retry::{
    Backoff, BudgetConfig, Config, HedgeConfig, HedgeDelay, HedgePolicy, Jitter, Policy,
    RetryErrors,
};
use ballast_test_support::metrics::Recording;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

/// A dependency that fails its first `failures` calls, then answers.
fn flaky(
    failures: u32,
) -> impl Service<(), Response = u32, Error = std::io::Error, Future: Send> + Clone {
    let calls = Arc::new(AtomicU32::new(0));
    service_fn(move |()| {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        async move {
            if n < failures {
                Err(std::io::Error::other("connection reset"))
            } else {
                Ok(n)
            }
        }
    })
}

fn no_jitter() -> Backoff {
    Backoff::constant(Duration::from_millis(10))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_layered_retry_policy_reports_outcomes_retries_and_give_ups() {
    let recording: &'static Recording = Box::leak(Box::default());
    let config = Config::builder()
        .name("inventory")
        .max_attempts(3)
        .backoff(no_jitter())
        .no_budget()
        .build()
        .unwrap();
    let policy = metrics::with_local_recorder(&recording, || Policy::new(config, RetryErrors));
    let n = [("name", "inventory")];
    let with = |k: &'static str, v: &'static str| [("name", "inventory"), (k, v)];

    // Two failures, then an answer: two retries, one success.
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(flaky(2));
    assert_eq!(svc.ready().await.unwrap().call(()).await.unwrap(), 2);
    // Succeeds at once: no retry.
    svc.ready().await.unwrap().call(()).await.unwrap();
    // Always down: two retries, then it gives up with the last failure.
    let mut down = ServiceBuilder::new()
        .layer(policy.layer())
        .service(flaky(u32::MAX));
    down.ready().await.unwrap().call(()).await.unwrap_err();

    let calls = names::RETRY_CALLS;
    assert_eq!(recording.counter(calls, &with("outcome", "success")), 2);
    assert_eq!(recording.counter(calls, &with("outcome", "failure")), 0);
    assert_eq!(recording.counter(calls, &with("outcome", "gave_up")), 1);
    assert_eq!(recording.counter(names::RETRY_RETRIES, &n), 4);
    let give_ups = names::RETRY_GIVE_UPS;
    assert_eq!(recording.counter(give_ups, &with("reason", "attempts")), 1);
    assert_eq!(recording.counter(give_ups, &with("reason", "budget")), 0);
    assert_eq!(recording.counter(names::RETRY_BUDGET_REFUSALS, &n), 0);
    // The snapshot the handle keeps agrees with what was reported.
    let m = policy.metrics();
    assert_eq!((m.calls, m.retries, m.gave_up), (3, 4, 1));
}

#[tokio::test(start_paused = true)]
async fn a_retry_policy_reports_budget_refusals_and_what_the_budget_has_left() {
    let recording: &'static Recording = Box::leak(Box::default());
    // 100% of the calls' count, no floor: one call earns one retry.
    let budget = BudgetConfig::builder()
        .percent(100.0)
        .min_per_second(0)
        .build()
        .unwrap();
    let config = Config::builder()
        .name("payments")
        .max_attempts(5)
        .backoff(no_jitter())
        .budget(budget)
        .build()
        .unwrap();
    let policy = metrics::with_local_recorder(&recording, || Policy::new(config, RetryErrors));
    let n = [("name", "payments")];
    let with = |k: &'static str, v: &'static str| [("name", "payments"), (k, v)];
    assert_eq!(recording.gauge(names::RETRY_BUDGET_LEFT, &n), 0.0);

    let mut down = ServiceBuilder::new()
        .layer(policy.layer())
        .service(flaky(u32::MAX));
    down.ready().await.unwrap().call(()).await.unwrap_err();

    // The call's deposit paid for one retry; the second was refused.
    assert_eq!(recording.counter(names::RETRY_RETRIES, &n), 1);
    assert_eq!(recording.counter(names::RETRY_BUDGET_REFUSALS, &n), 1);
    let give_ups = names::RETRY_GIVE_UPS;
    assert_eq!(recording.counter(give_ups, &with("reason", "budget")), 1);
    assert_eq!(
        recording.counter(names::RETRY_CALLS, &with("outcome", "gave_up")),
        1
    );
    assert_eq!(recording.gauge(names::RETRY_BUDGET_LEFT, &n), 0.0);
    assert_eq!(policy.metrics().budget_denied, 1);

    // 300%: one call earns three retries; the one it takes leaves two.
    let budget = BudgetConfig::builder()
        .percent(300.0)
        .min_per_second(0)
        .build()
        .unwrap();
    let config = Config::builder()
        .name("orders")
        .max_attempts(2)
        .backoff(no_jitter())
        .budget(budget)
        .build()
        .unwrap();
    let policy = metrics::with_local_recorder(&recording, || Policy::new(config, RetryErrors));
    let mut down = ServiceBuilder::new()
        .layer(policy.layer())
        .service(flaky(u32::MAX));
    down.ready().await.unwrap().call(()).await.unwrap_err();
    let orders = [("name", "orders")];
    assert_eq!(recording.counter(names::RETRY_RETRIES, &orders), 1);
    assert_eq!(recording.gauge(names::RETRY_BUDGET_LEFT, &orders), 2.0);
    assert_eq!(recording.counter(names::RETRY_BUDGET_REFUSALS, &orders), 0);
}

#[tokio::test(start_paused = true)]
async fn a_layered_hedge_policy_reports_the_backups_it_sent() {
    let recording: &'static Recording = Box::leak(Box::default());
    let config = HedgeConfig::builder()
        .name("search")
        .delay(HedgeDelay::Fixed(Duration::from_millis(100)))
        .no_budget()
        .build()
        .unwrap();
    let policy = metrics::with_local_recorder(&recording, || HedgePolicy::new(config));
    // The first request takes a second, the backup 10 ms.
    let calls = Arc::new(AtomicU32::new(0));
    let slow_then_fast = service_fn(move |()| {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        async move {
            let took = if n == 0 { 1000 } else { 10 };
            tokio::time::sleep(Duration::from_millis(took)).await;
            Ok::<_, std::io::Error>(n)
        }
    });
    let mut svc = policy.layer().layer(slow_then_fast);
    assert_eq!(svc.ready().await.unwrap().call(()).await.unwrap(), 1);
    assert_eq!(
        recording.counter(names::RETRY_HEDGES, &[("name", "search")]),
        1
    );
    assert_eq!(policy.metrics().hedges_sent, 1);
}

#[tokio::test(start_paused = true)]
async fn a_policy_built_without_a_recorder_reports_nothing_and_works() {
    let policy = Policy::new(
        Config::builder().backoff(no_jitter()).build().unwrap(),
        RetryErrors,
    );
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(flaky(1));
    svc.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(policy.metrics().retries, 1);
}

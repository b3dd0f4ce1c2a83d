//! A leaked policy ([`Policy::leak`]) retries, counts and honours its
//! budget exactly like the `Policy` it came from, on tokio's paused clock.

mod common;

use ballast_retry::{Backoff, BudgetConfig, Jitter, Metrics, Policy, RetryErrors};
use common::{MS, Scripted, builder, io_kind};
use std::io::ErrorKind::ConnectionRefused;
use std::time::Duration;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

/// Three calls (fail twice then answer; answer; fail for good) through a
/// layer, one of them `oneshot` so its retries outlive the service;
/// returns the answers, the attempts' start times and the metrics.
async fn scenario<L>(
    layer: L,
    metrics: impl Fn() -> Metrics,
) -> (Vec<Option<u16>>, Vec<u128>, Metrics)
where
    L: tower::Layer<Scripted>,
    L::Service: Service<&'static str, Response = u16, Error = ballast_retry::BoxError> + Clone,
{
    let dep = Scripted::new(&[
        Err(ConnectionRefused),
        Err(ConnectionRefused),
        Ok(200),
        Ok(201),
        Err(ConnectionRefused),
    ]);
    let mut svc = ServiceBuilder::new().layer(layer).service(dep.clone());
    let mut answers = Vec::new();
    // Retried after the service value that made the call is gone.
    answers.push(svc.clone().oneshot("GET").await.ok());
    answers.push(svc.ready().await.unwrap().call("GET").await.ok());
    let err = svc.ready().await.unwrap().call("GET").await.unwrap_err();
    assert_eq!(io_kind(&err), Some(ConnectionRefused));
    answers.push(None);
    (answers, dep.start_ms(), metrics())
}

fn config() -> ballast_retry::Config {
    let backoff = Backoff::exponential(100 * MS)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    builder().max_attempts(3).backoff(backoff).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_leaked_policy_retries_and_counts_like_the_shared_one() {
    let shared = Policy::new(config(), RetryErrors);
    let by_arc = scenario(shared.layer(), || shared.metrics()).await;

    let leaked = Policy::new(config(), RetryErrors).leak();
    let by_ref = scenario(leaked.layer(), || leaked.metrics()).await;

    assert_eq!(by_ref.0, [Some(200), Some(201), None]);
    // Call 1 at 0, 100, 300; call 2 at 300; call 3 at 300, 400, 600.
    assert_eq!(by_ref.1, [0, 100, 300, 300, 300, 400, 600]);
    let m = by_ref.2;
    assert_eq!((m.calls, m.attempts, m.retries, m.gave_up), (3, 7, 4, 1));
    assert_eq!(by_arc.0, by_ref.0);
    assert_eq!(by_arc.1, by_ref.1);
    assert_eq!(by_arc.2, by_ref.2);
}

#[tokio::test(start_paused = true)]
async fn a_leaked_policy_keeps_the_counts_of_the_policy_it_came_from() {
    let policy = Policy::new(ballast_retry::Config::default(), RetryErrors);
    let dep = Scripted::new(&[Ok(200)]);
    ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone())
        .oneshot("GET")
        .await
        .unwrap();
    let leaked = policy.clone().leak();
    let mut svc = ServiceBuilder::new()
        .layer(leaked.layer())
        .service(dep.clone());
    svc.ready().await.unwrap().call("GET").await.unwrap();
    assert_eq!(leaked.metrics().calls, 2);
    assert_eq!(svc.policy().metrics().calls, 2);
    assert_eq!(
        policy.metrics().calls,
        2,
        "the original sees the leaked one's calls"
    );
}

#[tokio::test(start_paused = true)]
async fn with_its_budget_spent_a_leaked_policy_returns_the_error_at_once() {
    let empty = BudgetConfig::builder()
        .percent(0.0)
        .min_per_second(0)
        .build()
        .unwrap();
    let policy = Policy::new(builder().budget(empty).build().unwrap(), RetryErrors).leak();
    let dep = Scripted::down();
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call("GET").await.unwrap_err();
    assert_eq!(io_kind(&err), Some(ConnectionRefused));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(dep.calls(), 1);
    let m = policy.metrics();
    assert_eq!((m.budget_denied, m.gave_up, m.retries), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_name_asked_for_again_is_the_same_policy_with_one_budget_and_one_count() {
    use ballast_retry::{Config, StaticPolicy};
    let config = Config::default();
    let first = StaticPolicy::named("static_policy::same", config.clone(), RetryErrors).unwrap();
    let dep = Scripted::new(&[Ok(200), Ok(201)]);
    let mut a = ServiceBuilder::new()
        .layer(first.layer())
        .service(dep.clone());
    a.ready().await.unwrap().call("GET").await.unwrap();
    // Another client built later (a reload, another connection) asks again.
    let again = StaticPolicy::named("static_policy::same", config, RetryErrors).unwrap();
    assert_eq!(again, first, "one policy, not a second leaked one");
    assert_eq!(again.name(), Some("static_policy::same"));
    let mut b = ServiceBuilder::new().layer(again.layer()).service(dep);
    b.ready().await.unwrap().call("GET").await.unwrap();
    assert_eq!(first.metrics().calls, 2, "both clients count in one policy");
}

#[test]
fn a_name_with_other_settings_or_another_classifier_type_is_a_config_error() {
    use ballast_retry::{AllErrors, Config, StaticPolicy};
    let name = "static_policy::conflict";
    StaticPolicy::named(name, Config::default(), RetryErrors).unwrap();
    let other = Config::builder().max_attempts(7).build().unwrap();
    let err = StaticPolicy::named(name, other, RetryErrors).unwrap_err();
    assert_eq!(err.field(), "name");
    assert!(err.to_string().contains("other settings"), "{err}");
    let err = StaticPolicy::named(name, Config::default(), |_: &Result<u16, ()>| {
        ballast_retry::Action::Return
    })
    .unwrap_err();
    assert!(err.to_string().contains("another type"), "{err}");
    let _ = AllErrors;
}

#[test]
fn threads_racing_for_a_new_name_all_get_one_policy() {
    use ballast_retry::{Config, StaticPolicy};
    let got: Vec<StaticPolicy<RetryErrors>> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                StaticPolicy::named("static_policy::race", Config::default(), RetryErrors).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(got.iter().all(|p| *p == got[0]));
}

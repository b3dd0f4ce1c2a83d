//! What a policy tells its operator: a `tracing` event with the attempt
//! number for every attempt, delay and give-up, and counts in
//! `Policy::metrics()`.

mod common;
mod events;

use ballast_retry::{BudgetConfig, Metrics, Policy, RetryErrors, retry};
use common::{MS, Scripted, builder};
use events::collecting;
use std::io;
use tower::{Service, ServiceBuilder, ServiceExt};

const ATTEMPT: &str = "retry: attempt";
const DELAY: &str = "retry: transient failure; retrying after a delay";
const GIVE_UP: &str = "retry: giving up";

fn owned(trail: &[(&str, u64)]) -> Vec<(String, u64)> {
    trail.iter().map(|(m, a)| (m.to_string(), *a)).collect()
}

#[tokio::test(start_paused = true)]
async fn every_attempt_and_delay_emits_an_event_with_its_attempt_number() {
    let (events, _guard) = collecting();
    let dep = Scripted::new(&[
        Err(io::ErrorKind::ConnectionRefused),
        Err(io::ErrorKind::ConnectionReset),
        Ok(200),
    ]);
    let policy = Policy::new(builder().build().unwrap(), RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    assert_eq!(svc.ready().await.unwrap().call("GET").await.unwrap(), 200);
    assert_eq!(
        events.trail_of(""),
        owned(&[
            (ATTEMPT, 1),
            (DELAY, 2),
            (ATTEMPT, 2),
            (DELAY, 3),
            (ATTEMPT, 3),
        ])
    );
    let delays: Vec<_> = events.all().into_iter().filter_map(|e| e.delay).collect();
    assert_eq!(delays, ["100ms", "100ms"]);
    assert_eq!(
        policy.metrics(),
        Metrics {
            calls: 1,
            attempts: 3,
            retries: 2,
            budget_denied: 0,
            gave_up: 0,
            expired: 0,
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_give_up_emits_an_event_with_the_attempt_and_the_reason() {
    let (events, _guard) = collecting();
    let policy = Policy::new(builder().max_attempts(2).build().unwrap(), RetryErrors);
    let result: Result<(), _> = retry(&policy, || async { Err(io::Error::other("down")) }).await;
    assert!(result.is_err());
    assert_eq!(
        events.trail_of(""),
        owned(&[(ATTEMPT, 1), (DELAY, 2), (ATTEMPT, 2), (GIVE_UP, 2)])
    );
    let reason = events.all().last().unwrap().reason.clone();
    assert_eq!(reason.as_deref(), Some("attempts used up"));
    let m = policy.metrics();
    assert_eq!((m.attempts, m.retries, m.gave_up), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_is_counted_and_named_in_the_give_up_event() {
    let (events, _guard) = collecting();
    // A reserve of one retry a second, no percentage.
    let budget = BudgetConfig::builder()
        .percent(0.0)
        .min_per_second(1)
        .window(1000 * MS)
        .buckets(1)
        .build()
        .unwrap();
    let policy = Policy::new(builder().budget(budget).build().unwrap(), RetryErrors);
    let dep = Scripted::down();
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    for _ in 0..2 {
        let _ = svc.ready().await.unwrap().call("GET").await;
    }
    // The first call retries once, then the budget is spent; the second
    // gets no retry at all.
    assert_eq!(
        events.trail_of(""),
        owned(&[
            (ATTEMPT, 1),
            (DELAY, 2),
            (ATTEMPT, 2),
            (GIVE_UP, 2),
            (ATTEMPT, 1),
            (GIVE_UP, 1),
        ])
    );
    let reasons: Vec<_> = events.all().into_iter().filter_map(|e| e.reason).collect();
    assert_eq!(reasons, ["retry budget spent", "retry budget spent"]);
    let m = policy.metrics();
    assert_eq!(
        (m.calls, m.attempts, m.retries, m.budget_denied, m.gave_up),
        (2, 3, 1, 2, 2)
    );
    assert_eq!(dep.calls(), 3);
}

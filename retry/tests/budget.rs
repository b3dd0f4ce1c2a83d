//! The retry budget: Finagle's default, turning it off, config errors, and
//! the extra load under a sustained failure.

mod common;

use ballast_retry::{BudgetConfig, CallError, Config, Policy, RetryBudget, RetryErrors, retry};
use common::{MS, Scripted, builder, io_kind};
use std::io;
use std::time::Duration;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

const SEC: u64 = 1_000_000_000;

#[test]
fn the_default_is_twenty_percent_plus_ten_a_second_over_ten_seconds() {
    let budget = RetryBudget::default();
    let c = budget.config().unwrap();
    assert_eq!(
        (c.percent(), c.min_per_second(), c.window()),
        (20.0, 10, Duration::from_secs(10))
    );
    assert_eq!(budget.available_at(0), 100);
    for _ in 0..1000 {
        budget.deposit_at(0);
    }
    assert_eq!(budget.available_at(0), 300);
    assert!(Config::default().budget().is_some(), "on by default");
}

#[test]
fn the_budget_slides_with_its_window() {
    let budget = RetryBudget::new(
        BudgetConfig::builder()
            .percent(50.0)
            .min_per_second(0)
            .window(Duration::from_secs(4))
            .buckets(4)
            .build()
            .unwrap(),
    );
    let deposit = |n: usize, at: u64| (0..n).for_each(|_| budget.deposit_at(at));
    deposit(10, 0);
    assert_eq!(budget.available_at(0), 5);
    assert!(budget.try_withdraw_at(0));
    assert_eq!(budget.available_at(0), 4);
    // At 3 s the window still holds 4, but second 3 has no requests of its
    // own: a bucket spends at most its own share (plus the reserve, none).
    assert_eq!(budget.available_at(3 * SEC), 0);
    deposit(10, 3 * SEC);
    assert_eq!(budget.available_at(3 * SEC), 5);
    // At 4 s second 0 leaves the window, its deposits and its withdrawal:
    // the window holds 10 deposits (5 retries), second 4 nothing yet.
    assert_eq!(budget.available_at(4 * SEC), 0);
    deposit(2, 4 * SEC);
    assert_eq!(budget.available_at(4 * SEC), 1);
    // At 8 s both have left.
    assert_eq!(budget.available_at(8 * SEC), 0);
}

#[test]
fn an_unlimited_budget_allows_every_retry() {
    let budget = RetryBudget::unlimited();
    assert!(budget.is_unlimited());
    assert!((0..10_000).all(|_| budget.try_withdraw()));
    let policy = Policy::new(Config::builder().no_budget().build().unwrap(), RetryErrors);
    assert!(policy.budget().is_unlimited());
}

#[test]
fn clones_share_one_budget() {
    let budget = RetryBudget::new(
        BudgetConfig::builder()
            .percent(0.0)
            .min_per_second(1)
            .window(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    let other = budget.clone();
    assert!(budget.try_withdraw_at(0));
    assert!(other.try_withdraw_at(0));
    assert!(!budget.try_withdraw_at(0));
}

#[test]
fn invalid_budgets_are_config_errors() {
    let field = |b: ballast_retry::BudgetConfigBuilder| b.build().unwrap_err().field().to_owned();
    assert_eq!(field(BudgetConfig::builder().percent(-1.0)), "percent");
    assert_eq!(field(BudgetConfig::builder().percent(f64::NAN)), "percent");
    assert_eq!(field(BudgetConfig::builder().percent(1000.1)), "percent");
    assert_eq!(
        field(BudgetConfig::builder().window(Duration::ZERO)),
        "window"
    );
    assert_eq!(field(BudgetConfig::builder().buckets(0)), "buckets");
    assert_eq!(field(BudgetConfig::builder().buckets(1001)), "buckets");
    assert_eq!(
        field(
            BudgetConfig::builder()
                .window(Duration::from_nanos(5))
                .buckets(10)
        ),
        "buckets"
    );
    let e = BudgetConfig::builder()
        .percent(120.0 * 10.0)
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid retry budget config: percent must be in [0, 1000], got 1200"
    );
    assert_eq!(
        Config::builder()
            .max_attempts(0)
            .build()
            .unwrap_err()
            .field(),
        "max_attempts"
    );
    assert_eq!(
        Config::builder()
            .max_total_time(Duration::ZERO)
            .build()
            .unwrap_err()
            .field(),
        "max_total_time"
    );
}

#[tokio::test(start_paused = true)]
async fn with_the_budget_spent_the_original_error_returns_at_once() {
    let empty = BudgetConfig::builder()
        .percent(0.0)
        .min_per_second(0)
        .build()
        .unwrap();
    let policy = Policy::new(builder().budget(empty).build().unwrap(), RetryErrors);
    let dep = Scripted::down();
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call("GET").await.unwrap_err();
    assert_eq!(io_kind(&err), Some(io::ErrorKind::ConnectionRefused));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(dep.calls(), 1);
    let m = policy.metrics();
    assert_eq!((m.budget_denied, m.gave_up, m.retries), (1, 1, 0));

    let helper: Result<(), CallError<io::Error>> =
        retry(&policy, || async { Err(io::Error::other("down")) }).await;
    assert!(matches!(helper, Err(CallError::Inner(_))));
    assert_eq!(policy.metrics().budget_denied, 2);
}

/// Sends `per_second` requests a second for `seconds` through a policy with
/// 5 attempts against a dependency that is down; returns the load the
/// dependency saw per request.
async fn amplification(budget: Option<BudgetConfig>, per_second: u64, seconds: u64) -> f64 {
    let mut config = builder().backoff(ballast_retry::Backoff::constant(10 * MS).build().unwrap());
    config = match budget {
        Some(b) => config.budget(b),
        None => config.no_budget(),
    };
    let policy = Policy::new(config.build().unwrap(), RetryErrors);
    let dep = Scripted::down();
    let svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let gap = Duration::from_nanos(SEC / per_second);
    let mut tasks = Vec::new();
    for _ in 0..(per_second * seconds) {
        let mut svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let _ = svc.ready().await.unwrap().call("GET").await;
        }));
        tokio::time::sleep(gap).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let m = policy.metrics();
    assert_eq!(m.attempts as usize, dep.calls());
    m.attempts as f64 / m.calls as f64
}

#[tokio::test(start_paused = true)]
async fn under_a_sustained_failure_retries_stay_within_the_percentage() {
    // 200 requests a second for 30 s: three windows of 10 s.
    let budget = BudgetConfig::builder()
        .percent(20.0)
        .min_per_second(0)
        .build()
        .unwrap();
    let with = amplification(Some(budget), 200, 30).await;
    assert!(with <= 1.20, "load {with:.3}x with a 20% budget");
    assert!(with >= 1.15, "the budget is used: {with:.3}x");
    let without = amplification(None, 200, 30).await;
    assert_eq!(without, 5.0);
    // Finagle's default adds a reserve of 10 a second: 200/s * 20% + 10/s.
    let default = amplification(Some(BudgetConfig::default()), 200, 30).await;
    assert!(
        default <= 1.25 + 0.01,
        "load {default:.3}x with the default budget"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_during_its_backoff_gives_its_retry_back() {
    // A reserve of one retry, no percentage: one retry in all.
    let one = BudgetConfig::builder()
        .percent(0.0)
        .min_per_second(1)
        .window(Duration::from_secs(1))
        .buckets(1)
        .build()
        .unwrap();
    let policy = Policy::new(builder().budget(one).build().unwrap(), RetryErrors);
    let dep = Scripted::down();
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());

    // The first call takes the retry, then is dropped 50 ms into its
    // 100 ms backoff: the retry comes back.
    let call = svc.ready().await.unwrap().call("GET");
    assert!(tokio::time::timeout(50 * MS, call).await.is_err());
    assert_eq!(policy.budget().available(), 1);
    assert_eq!(policy.metrics().retries, 0);

    // So the next call can retry.
    let _ = svc.ready().await.unwrap().call("GET").await;
    assert_eq!(dep.calls(), 3);
    assert_eq!(policy.budget().available(), 0);
    let m = policy.metrics();
    assert_eq!((m.calls, m.attempts, m.retries), (2, 3, 1));

    // The helper alike.
    let policy = Policy::new(builder().budget(one).build().unwrap(), RetryErrors);
    let helper = retry(&policy, || async { Err::<(), _>(io::Error::other("down")) });
    assert!(tokio::time::timeout(50 * MS, helper).await.is_err());
    assert_eq!(policy.budget().available(), 1);
}

#[tokio::test(start_paused = true)]
async fn deposits_from_many_threads_are_all_counted_as_soon_as_they_join() {
    // Each thread deposits into a counter of its own; the budget sums
    // them, and a thread that exits leaves its count behind.
    let budget = RetryBudget::new(
        BudgetConfig::builder()
            .percent(10.0)
            .min_per_second(0)
            .build()
            .unwrap(),
    );
    budget.deposit();
    assert_eq!(budget.available(), 0, "one deposit pays for 0.1 retry");
    for round in 0..2 {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || (0..250).for_each(|_| budget.deposit()))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(budget.available(), 100 * (round + 1));
    }
    for _ in 0..9 {
        budget.deposit();
    }
    assert_eq!(budget.available(), 201, "2,010 deposits at 10%");
}

//! The hedge budget under sustained slowness, and one budget shared by
//! retries and hedges.

mod hedge_support;

use ballast_retry::{
    BudgetConfig, Config, HedgeConfig, HedgeDelay, HedgePolicy, Policy, RetryBudget, RetryErrors,
    hedge, retry,
};
use hedge_support::{Job, MS, Replica};
use std::time::Duration;
use tokio::task::JoinSet;
use tower::{Layer, Service, ServiceExt};

/// Every first attempt takes this long: the dependency is slow throughout.
const STUCK: Duration = Duration::from_secs(2);

/// Starts `per_tick` calls every 10 ms for `ticks` ticks, each slow, and
/// waits for them all.
async fn slow_traffic(policy: &HedgePolicy, ticks: u32, per_tick: u32) {
    let svc = policy.layer().layer(Replica::default());
    let mut calls = JoinSet::new();
    for _ in 0..ticks {
        for _ in 0..per_tick {
            let mut svc = svc.clone();
            calls.spawn(async move {
                svc.ready()
                    .await
                    .unwrap()
                    .call(Job::new(STUCK, 5 * MS))
                    .await
                    .unwrap()
            });
        }
        tokio::time::sleep(10 * MS).await;
    }
    while calls.join_next().await.is_some() {}
}

fn policy(percent: f64, min_per_second: u32) -> HedgePolicy {
    HedgePolicy::new(
        HedgeConfig::builder()
            .delay(HedgeDelay::Fixed(10 * MS))
            .budget(
                BudgetConfig::builder()
                    .percent(percent)
                    .min_per_second(min_per_second)
                    .window(Duration::from_secs(10))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn hedges_within_one_window_stay_within_percentage_plus_minimum() {
    // 1,000 calls in 1 s, all slow: 10% of 1,000 plus 1 a second over the
    // 10 s window (a reserve of 10) is 110 backups at most.
    let policy = policy(10.0, 1);
    slow_traffic(&policy, 100, 10).await;

    let m = policy.metrics();
    assert_eq!(m.calls, 1000);
    assert!(m.hedges_sent <= 110, "{m:?}");
    // The budget was used, not merely unreachable.
    assert!(m.hedges_sent >= 100, "{m:?}");
    assert_eq!(m.hedges_sent + m.budget_denied, 1000);
    assert_eq!(m.hedges_won, m.hedges_sent);
}

#[tokio::test(start_paused = true)]
async fn hedges_under_sustained_slowness_stay_within_the_budget() {
    // 30 s of 100 slow calls a second: over the whole run, backups stay
    // under 10% of the calls plus the minimum of 1 a second.
    let policy = policy(10.0, 1);
    slow_traffic(&policy, 3000, 1).await;

    let m = policy.metrics();
    assert_eq!(m.calls, 3000);
    let bound = 3000 / 10 + 30;
    assert!(m.hedges_sent <= bound, "{m:?} above {bound}");
    assert!(m.hedges_sent >= 300, "{m:?}");
    assert!(m.budget_denied > 0);
}

#[tokio::test(start_paused = true)]
async fn without_a_budget_every_slow_call_is_hedged() {
    let policy = HedgePolicy::new(
        HedgeConfig::builder()
            .delay(HedgeDelay::Fixed(10 * MS))
            .no_budget()
            .build()
            .unwrap(),
    );
    slow_traffic(&policy, 10, 10).await;
    let m = policy.metrics();
    assert_eq!((m.calls, m.hedges_sent, m.budget_denied), (100, 100, 0));
}

#[tokio::test(start_paused = true)]
async fn one_budget_caps_retries_and_hedges_together() {
    // No percentage, a reserve of 3 (1 a second over a 3 s window): three extra
    // requests in all, whichever pattern asks.
    let budget = RetryBudget::new(
        BudgetConfig::builder()
            .percent(0.0)
            .min_per_second(1)
            .window(Duration::from_secs(3))
            .build()
            .unwrap(),
    );
    let retries = Policy::with_budget(
        Config::builder().max_attempts(3).build().unwrap(),
        RetryErrors,
        budget.clone(),
    );
    let hedges = HedgePolicy::with_budget(
        HedgeConfig::builder()
            .delay(HedgeDelay::Fixed(10 * MS))
            .build()
            .unwrap(),
        budget.clone(),
    );

    // A failing call spends two retries.
    let failed = retry(&retries, || async { Err::<(), _>("down") }).await;
    assert!(failed.is_err());
    assert_eq!(retries.metrics().retries, 2);

    // One backup is left for the first slow call, none for the second.
    for _ in 0..2 {
        let job = Job::new(Duration::from_secs(1), MS);
        hedge(&hedges, || job.clone().run()).await.unwrap();
    }
    let m = hedges.metrics();
    assert_eq!((m.hedges_sent, m.budget_denied), (1, 1));
    assert_eq!(budget.available(), 0);
}

/// Deposits in one budget after ten calls through a retry layer around a
/// hedging layer, the hedging policy drawing on `inner_view` of it.
async fn deposits_after_ten_stacked_calls(inner_view: fn(&RetryBudget) -> RetryBudget) -> u64 {
    let budget = RetryBudget::new(BudgetConfig::default());
    let retries = Policy::with_budget(Config::default(), RetryErrors, budget.clone());
    let hedges = HedgePolicy::with_budget(HedgeConfig::default(), inner_view(&budget));
    let mut svc = tower::ServiceBuilder::new()
        .layer(retries.layer())
        .layer(hedges.layer())
        .service(tower::service_fn(|x: u32| async move {
            Ok::<_, std::io::Error>(x)
        }));
    for i in 0..10 {
        svc.ready().await.unwrap().call(i).await.unwrap();
    }
    budget.deposits_at(budget.now())
}

#[tokio::test(start_paused = true)]
async fn stacked_layers_sharing_a_budget_deposit_each_request_once() {
    assert_eq!(
        deposits_after_ten_stacked_calls(RetryBudget::without_deposits).await,
        10
    );
    // The control: both layers depositing count every request twice.
    assert_eq!(
        deposits_after_ten_stacked_calls(RetryBudget::clone).await,
        20
    );
}

/// How a [`Moody`] replica answers `poll_ready` once switched.
const READY: u8 = 0;
const FAILS: u8 = 1;
const PENDING: u8 = 2;

/// A replica whose attempts take 50 ms, and whose readiness a test
/// switches (clones share the switch).
#[derive(Clone, Default)]
struct Moody {
    ready: std::sync::Arc<std::sync::atomic::AtomicU8>,
    calls: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl Service<u32> for Moody {
    type Response = u32;
    type Error = std::io::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, std::io::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), std::io::Error>> {
        use std::task::Poll;
        match self.ready.load(std::sync::atomic::Ordering::SeqCst) {
            READY => Poll::Ready(Ok(())),
            FAILS => Poll::Ready(Err(std::io::Error::other("not ready"))),
            _ => Poll::Pending,
        }
    }

    fn call(&mut self, x: u32) -> Self::Future {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(50 * MS).await;
            Ok(x)
        })
    }
}

/// One slow call through a hedging layer with a reserve of 10 backups,
/// the replica switched to `mood` before the backup is due (10 ms): the
/// budget's balance before and after the call, and the calls the replica
/// got.
async fn budget_around_one_call_with_the_backup(mood: u8) -> (u64, u64, u32) {
    let policy = HedgePolicy::new(
        HedgeConfig::builder()
            .delay(HedgeDelay::Fixed(10 * MS))
            .budget(
                BudgetConfig::builder()
                    .percent(0.0)
                    .min_per_second(1)
                    .window(Duration::from_secs(10))
                    .buckets(1)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    );
    let replica = Moody::default();
    let mut svc = policy.layer().layer(replica.clone());
    let before = policy.budget().available();
    let call = svc.ready().await.unwrap().call(7);
    replica
        .ready
        .store(mood, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(call.await.unwrap(), 7);
    let after = policy.budget().available();
    (
        before,
        after,
        replica.calls.load(std::sync::atomic::Ordering::SeqCst),
    )
}

#[tokio::test(start_paused = true)]
async fn a_sent_backup_keeps_what_it_took_from_the_budget() {
    // The control: the backup is sent and spends one of the 10.
    assert_eq!(
        budget_around_one_call_with_the_backup(READY).await,
        (10, 9, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn a_backup_the_service_cannot_take_gives_its_budget_back() {
    // The timer fires and takes one, then the service fails to become
    // ready: no backup, and the balance is whole again.
    assert_eq!(
        budget_around_one_call_with_the_backup(FAILS).await,
        (10, 10, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_backup_overtaken_by_the_first_answer_gives_its_budget_back() {
    // The backup waits for the service to be ready until the first
    // attempt answers at 50 ms: not sent, its budget goes back.
    assert_eq!(
        budget_around_one_call_with_the_backup(PENDING).await,
        (10, 10, 1)
    );
}

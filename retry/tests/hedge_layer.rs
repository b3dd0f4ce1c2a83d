//! The hedging layer on tokio's paused clock: who wins, what is
//! cancelled, and when no backup is sent.

mod hedge_support;

use ballast_deadline::Deadline;
use ballast_retry::{HedgeDelay, HedgePolicy};
use hedge_support::{Job, MS, Replica, fixed, poll_once};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, advance};
use tower::{Layer, Service, ServiceExt};

const SLOW: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn backup_answers_first_and_its_answer_is_returned() {
    let policy = HedgePolicy::new(fixed(100 * MS).build().unwrap());
    let replica = Replica::default();
    let mut svc = policy.layer().layer(replica.clone());
    let job = Job::new(SLOW, 10 * MS);

    let started = Instant::now();
    let answer = svc.ready().await.unwrap().call(job.clone()).await.unwrap();

    assert_eq!(answer, 1, "the backup's answer");
    assert_eq!(started.elapsed(), 110 * MS);
    assert_eq!(replica.calls(), 2);
    let m = policy.metrics();
    assert_eq!((m.calls, m.hedges_sent, m.hedges_won), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn loser_is_dropped_as_soon_as_the_winner_answers() {
    let policy = HedgePolicy::new(fixed(100 * MS).build().unwrap());
    let mut svc = policy.layer().layer(Replica::default());
    let job = Job::new(SLOW, 10 * MS);

    let mut fut = pin!(svc.call(job.clone()));
    assert!(poll_once(fut.as_mut()).is_pending());
    advance(100 * MS).await;
    assert!(
        poll_once(fut.as_mut()).is_pending(),
        "backup sent, both pending"
    );
    assert_eq!(job.started(), 2);
    assert!(job.cancelled().is_empty());
    advance(10 * MS).await;
    // The future is still alive, but the race is over: the first attempt
    // was dropped when the backup answered.
    assert!(matches!(poll_once(fut.as_mut()), Poll::Ready(Ok(1))));
    assert_eq!(job.cancelled(), vec![0]);
    assert_eq!(job.finished(), vec![1]);
}

#[tokio::test(start_paused = true)]
async fn first_attempt_wins_when_it_answers_after_the_backup_started() {
    let policy = HedgePolicy::new(fixed(100 * MS).build().unwrap());
    let mut svc = policy.layer().layer(Replica::default());
    // The first answers at 150 ms; the backup (from 100 ms) would at 300.
    let job = Job::new(150 * MS, 200 * MS);

    let answer = svc.ready().await.unwrap().call(job.clone()).await.unwrap();

    assert_eq!(answer, 0);
    assert_eq!(job.cancelled(), vec![1], "the backup was cancelled");
    let m = policy.metrics();
    assert_eq!((m.hedges_sent, m.hedges_won), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn no_backup_when_the_first_answers_before_the_delay() {
    let policy = HedgePolicy::new(fixed(100 * MS).build().unwrap());
    let replica = Replica::default();
    let mut svc = policy.layer().layer(replica.clone());
    let job = Job::new(99 * MS, MS);

    let answer = svc.ready().await.unwrap().call(job.clone()).await.unwrap();
    // Nothing left behind fires later either.
    advance(SLOW).await;

    assert_eq!(answer, 0);
    assert_eq!(replica.calls(), 1);
    assert_eq!(job.started(), 1);
    assert_eq!(policy.metrics().hedges_sent, 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_drops_every_attempt() {
    let policy = HedgePolicy::new(fixed(100 * MS).max_hedges(2).build().unwrap());
    let mut svc = policy.layer().layer(Replica::default());
    let job = Job::new(SLOW, SLOW);

    {
        let mut fut = pin!(svc.call(job.clone()));
        assert!(poll_once(fut.as_mut()).is_pending());
        advance(100 * MS).await;
        assert!(poll_once(fut.as_mut()).is_pending());
        advance(100 * MS).await;
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(job.started(), 3);
        assert!(job.cancelled().is_empty());
    }

    assert_eq!(job.cancelled(), vec![0, 1, 2]);
    // And no backup starts after the drop.
    advance(SLOW).await;
    assert_eq!(job.started(), 3);
}

#[tokio::test(start_paused = true)]
async fn requests_that_cannot_be_copied_are_never_hedged() {
    let policy = HedgePolicy::new(fixed(100 * MS).build().unwrap());
    let replica = Replica::default();
    let mut svc = policy
        .layer()
        .clone_requests_with(|_: &Job| None)
        .layer(replica.clone());
    let job = Job::new(SLOW, MS);

    let started = Instant::now();
    let answer = svc.ready().await.unwrap().call(job.clone()).await.unwrap();

    assert_eq!(answer, 0);
    assert_eq!(started.elapsed(), SLOW);
    assert_eq!(replica.calls(), 1);
    let m = policy.metrics();
    assert_eq!((m.hedges_sent, m.not_cloneable), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn more_backups_follow_one_delay_apart_up_to_the_maximum() {
    let policy = HedgePolicy::new(fixed(100 * MS).max_hedges(3).build().unwrap());
    let mut svc = policy.layer().layer(Replica::default());
    // Every attempt is slow: the call sends all 3 backups, then waits.
    let job = Job::new(SLOW, SLOW);

    let started = Instant::now();
    let answer = svc.ready().await.unwrap().call(job.clone()).await.unwrap();

    // The first answers at 1 s, before the backups (started at 100, 200
    // and 300 ms).
    assert_eq!(answer, 0);
    assert_eq!(started.elapsed(), SLOW);
    assert_eq!(job.started(), 4);
    assert_eq!(job.cancelled(), vec![1, 2, 3]);
    assert_eq!(policy.metrics().hedges_sent, 3);
}

#[tokio::test(start_paused = true)]
async fn second_backup_wins_and_the_other_two_are_cancelled() {
    let policy = HedgePolicy::new(fixed(100 * MS).max_hedges(2).build().unwrap());
    let mut svc = policy.layer().layer(Replica::default());
    let job = Job::new(SLOW, 150 * MS);

    let started = Instant::now();
    let answer = svc.ready().await.unwrap().call(job.clone()).await.unwrap();

    // Backup 1 starts at 100 ms and answers at 250; backup 2 would start
    // at 200 ms and answer at 350.
    assert_eq!(answer, 1);
    assert_eq!(started.elapsed(), 250 * MS);
    assert_eq!(job.cancelled(), vec![0, 2]);
    let m = policy.metrics();
    assert_eq!((m.hedges_sent, m.hedges_won), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn no_backup_that_would_not_fit_the_deadline() {
    let policy = HedgePolicy::new(fixed(100 * MS).min_attempt_time(60 * MS).build().unwrap());
    let mut svc = policy.layer().layer(Replica::default());

    // At 100 ms only 50 ms would be left: less than a backup needs.
    let tight = Job::new(SLOW, MS);
    let call = async { svc.ready().await.unwrap().call(tight.clone()).await };
    let answer = Deadline::after(150 * MS).scope(call).await.unwrap();
    assert_eq!(answer, 0);
    assert_eq!(tight.started(), 1);
    let m = policy.metrics();
    assert_eq!((m.hedges_sent, m.deadline_denied), (0, 1));

    // With 60 ms left at 100 ms, the backup fits.
    let roomy = Job::new(SLOW, MS);
    let call = async { svc.ready().await.unwrap().call(roomy.clone()).await };
    let answer = Deadline::after(160 * MS).scope(call).await.unwrap();
    assert_eq!(answer, 1);
    assert_eq!(policy.metrics().hedges_sent, 1);
}

#[tokio::test(start_paused = true)]
async fn percentile_delay_uses_its_fallback_until_enough_samples() {
    let policy = HedgePolicy::new(
        fixed(MS)
            .delay(HedgeDelay::Percentile {
                p: 50.0,
                min: MS,
                max: SLOW,
                fallback: 300 * MS,
            })
            .min_samples(3)
            .build()
            .unwrap(),
    );
    let mut svc = policy.layer().layer(Replica::default());
    // Two quick calls are too few: a slow third call waits the fallback.
    for _ in 0..2 {
        svc.ready()
            .await
            .unwrap()
            .call(Job::new(10 * MS, MS))
            .await
            .unwrap();
    }
    let started = Instant::now();
    let answer = svc
        .ready()
        .await
        .unwrap()
        .call(Job::new(SLOW, 10 * MS))
        .await
        .unwrap();
    assert_eq!(answer, 1);
    assert_eq!(started.elapsed(), 310 * MS);
}

#[tokio::test(start_paused = true)]
async fn clones_share_the_policy_counts() {
    let policy = HedgePolicy::new(fixed(100 * MS).build().unwrap());
    let svc = policy.layer().layer(Replica::default());
    for _ in 0..3 {
        let mut clone = svc.clone();
        clone
            .ready()
            .await
            .unwrap()
            .call(Job::new(SLOW, MS))
            .await
            .unwrap();
    }
    let m = policy.metrics();
    assert_eq!((m.calls, m.hedges_sent, m.hedges_won), (3, 3, 3));
}

const OPEN: u8 = 0;
const SHUT: u8 = 1;
const BROKEN: u8 = 2;

/// A replica whose readiness the test controls: open, shut (pending) or
/// broken (an error). Clones share the switch.
#[derive(Clone)]
struct Gated {
    inner: Replica,
    state: Arc<AtomicU8>,
}

impl Service<Job> for Gated {
    type Response = u32;
    type Error = io::Error;
    type Future = <Replica as Service<Job>>::Future;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        match self.state.load(Ordering::SeqCst) {
            OPEN => Poll::Ready(Ok(())),
            SHUT => Poll::Pending,
            _ => Poll::Ready(Err(io::Error::other("broken"))),
        }
    }

    fn call(&mut self, job: Job) -> Self::Future {
        self.inner.call(job)
    }
}

#[tokio::test(start_paused = true)]
async fn a_backup_waits_for_readiness_while_the_first_attempt_runs_on() {
    let policy = HedgePolicy::new(fixed(100 * MS).build().unwrap());
    let state = Arc::new(AtomicU8::new(OPEN));
    let mut svc = policy.layer().layer(Gated {
        inner: Replica::default(),
        state: state.clone(),
    });
    let job = Job::new(SLOW, 10 * MS);

    svc.ready().await.unwrap();
    let mut fut = pin!(svc.call(job.clone()));
    state.store(SHUT, Ordering::SeqCst);
    assert!(poll_once(fut.as_mut()).is_pending());
    advance(150 * MS).await;
    assert!(poll_once(fut.as_mut()).is_pending());
    assert_eq!(job.started(), 1, "no backup while the service is not ready");

    state.store(OPEN, Ordering::SeqCst);
    assert!(poll_once(fut.as_mut()).is_pending());
    assert_eq!(job.started(), 2);
    advance(10 * MS).await;
    assert!(matches!(poll_once(fut.as_mut()), Poll::Ready(Ok(1))));
    assert_eq!(policy.metrics().hedges_won, 1);
}

#[tokio::test(start_paused = true)]
async fn a_service_failing_to_become_ready_sends_no_backup_and_keeps_the_first() {
    let policy = HedgePolicy::new(fixed(100 * MS).build().unwrap());
    let state = Arc::new(AtomicU8::new(OPEN));
    let mut svc = policy.layer().layer(Gated {
        inner: Replica::default(),
        state: state.clone(),
    });
    let job = Job::new(SLOW, MS);

    svc.ready().await.unwrap();
    let call = svc.call(job.clone());
    state.store(BROKEN, Ordering::SeqCst);
    let started = Instant::now();
    let answer = call.await.unwrap();

    assert_eq!(answer, 0);
    assert_eq!(started.elapsed(), SLOW);
    assert_eq!(job.started(), 1);
    assert_eq!(policy.metrics().hedges_sent, 0);
}

fn assert_send<T: Send>(_: &T) {}

#[tokio::test(start_paused = true)]
async fn calls_are_send_futures_for_multi_threaded_runtimes() {
    let policy = HedgePolicy::new(fixed(100 * MS).build().unwrap());
    let mut svc = policy.layer().layer(Replica::default());
    let call = svc.call(Job::new(MS, MS));
    assert_send(&call);
    assert_eq!(call.await.unwrap(), 0);
    let job = Job::new(MS, MS);
    let helper = ballast_retry::hedge(&policy, || job.clone().run());
    assert_send(&helper);
    assert_eq!(helper.await.unwrap(), 0);
    // And the policy can move to a spawned task.
    let spawned = tokio::spawn(async move { policy.metrics().calls });
    assert_eq!(spawned.await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_service_builder_method_hedges_under_the_shared_policy() {
    let policy = HedgePolicy::new(fixed(100 * MS).build().unwrap());
    let replica = Replica::default();
    let mut svc = tower::ServiceBuilder::new()
        .layer(policy.layer())
        .service(replica.clone());
    let job = Job::new(SLOW, 10 * MS);

    let started = Instant::now();
    let answer = svc.ready().await.unwrap().call(job.clone()).await.unwrap();

    assert_eq!(answer, 1, "the backup's answer");
    assert_eq!(started.elapsed(), 110 * MS);
    assert_eq!(replica.calls(), 2);
    let m = policy.metrics();
    assert_eq!((m.calls, m.hedges_sent, m.hedges_won), (1, 1, 1));
}

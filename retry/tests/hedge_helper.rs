//! The plain async helper, `hedge(&policy, || async { .. })`.

mod hedge_support;

use ballast_deadline::Deadline;
use ballast_retry::{HedgePolicy, hedge};
use hedge_support::{Job, MS, fixed, poll_once};
use std::pin::pin;
use std::time::Duration;
use tokio::time::{Instant, advance};

const SLOW: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn helper_returns_the_backups_answer_and_drops_the_first() {
    let policy = HedgePolicy::new(fixed(50 * MS).build().unwrap());
    let job = Job::new(SLOW, 10 * MS);

    let started = Instant::now();
    let answer = hedge(&policy, || job.clone().run()).await.unwrap();

    assert_eq!(answer, 1);
    assert_eq!(started.elapsed(), 60 * MS);
    assert_eq!(job.cancelled(), vec![0]);
    let m = policy.metrics();
    assert_eq!((m.calls, m.hedges_sent, m.hedges_won), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn helper_sends_no_backup_for_a_quick_answer() {
    let policy = HedgePolicy::new(fixed(50 * MS).build().unwrap());
    let job = Job::new(49 * MS, MS);

    let answer = hedge(&policy, || job.clone().run()).await.unwrap();
    advance(SLOW).await;

    assert_eq!(answer, 0);
    assert_eq!(job.started(), 1);
    assert_eq!(policy.metrics().hedges_sent, 0);
}

#[tokio::test(start_paused = true)]
async fn helper_answered_at_once_never_waits() {
    let policy = HedgePolicy::new(fixed(50 * MS).build().unwrap());
    let started = Instant::now();
    let answer: Result<u8, ()> = hedge(&policy, || async { Ok(7) }).await;
    assert_eq!(answer, Ok(7));
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_helper_drops_every_attempt() {
    let policy = HedgePolicy::new(fixed(50 * MS).build().unwrap());
    let job = Job::new(SLOW, SLOW);
    {
        let mut fut = pin!(hedge(&policy, || job.clone().run()));
        assert!(poll_once(fut.as_mut()).is_pending());
        advance(50 * MS).await;
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(job.started(), 2);
    }
    assert_eq!(job.cancelled(), vec![0, 1]);
}

#[tokio::test(start_paused = true)]
async fn helper_sends_no_backup_past_the_tasks_deadline() {
    let policy = HedgePolicy::new(fixed(50 * MS).build().unwrap());
    let job = Job::new(SLOW, MS);
    // 10 ms left at 50 ms: the least an attempt needs (10 ms by default)
    // is not more than that, so it fits; 5 ms left does not.
    let call = hedge(&policy, || job.clone().run());
    let answer = Deadline::after(55 * MS).scope(call).await.unwrap();
    assert_eq!(answer, 0);
    let m = policy.metrics();
    assert_eq!((m.hedges_sent, m.deadline_denied), (0, 1));
}

//! What hedging tells its operator: a `tracing` event with the attempt
//! number for every backup sent, won or not sent, and counts in
//! `HedgePolicy::metrics()`.

mod events;
mod hedge_support;

use ballast_deadline::Deadline;
use ballast_retry::{BudgetConfig, HedgeMetrics, HedgePolicy, hedge};
use events::collecting;
use hedge_support::{Job, MS, fixed};
use std::time::Duration;

const SLOW: Duration = Duration::from_secs(1);

fn trail(events: &[(&str, u64)]) -> Vec<(String, u64)> {
    events.iter().map(|(m, a)| (m.to_string(), *a)).collect()
}

#[tokio::test(start_paused = true)]
async fn every_backup_sent_and_won_is_an_event_with_its_attempt() {
    let (events, _guard) = collecting();
    let policy = HedgePolicy::new(fixed(10 * MS).max_hedges(2).build().unwrap());
    // Backups go at 10 ms (attempt 2) and 20 ms (attempt 3); the first
    // answers at 25 ms, before the second's 35 ms.
    let job = Job::new(SLOW, 15 * MS);
    let answer = hedge(&policy, || job.clone().run()).await.unwrap();
    assert_eq!(answer, 1);

    assert_eq!(
        events.trail_of("hedge:"),
        trail(&[
            ("hedge: backup sent", 2),
            ("hedge: backup sent", 3),
            ("hedge: a backup answered first", 2),
        ])
    );
    assert_eq!(
        policy.metrics(),
        HedgeMetrics {
            calls: 1,
            hedges_sent: 2,
            hedges_won: 1,
            ..HedgeMetrics::default()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn backups_not_sent_are_events_saying_why() {
    let (events, _guard) = collecting();
    // A budget of one backup: no percentage, 1 a second over 1 s.
    let budget = BudgetConfig::builder()
        .percent(0.0)
        .min_per_second(1)
        .window(Duration::from_secs(1))
        .buckets(1)
        .build()
        .unwrap();
    let policy = HedgePolicy::new(fixed(10 * MS).budget(budget).build().unwrap());

    // The first slow call takes the budget's one backup; the second finds
    // it spent; the third has too little time before its deadline.
    for _ in 0..2 {
        let job = Job::new(100 * MS, 100 * MS);
        hedge(&policy, || job.clone().run()).await.unwrap();
    }
    let job = Job::new(100 * MS, 100 * MS);
    let call = hedge(&policy, || job.clone().run());
    Deadline::after(15 * MS).scope(call).await.unwrap();

    assert_eq!(
        events.trail_of("hedge:"),
        trail(&[
            ("hedge: backup sent", 2),
            ("hedge: budget spent; no backup", 2),
            ("hedge: the deadline leaves a backup no time; none sent", 2),
        ])
    );
    let m = policy.metrics();
    assert_eq!(
        (
            m.calls,
            m.hedges_sent,
            m.hedges_won,
            m.budget_denied,
            m.deadline_denied
        ),
        (3, 1, 0, 1, 1)
    );
}

//! Loom models of the lock-free cores.
//!
//! Run with `RUSTFLAGS="--cfg ballast_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p ballast-ratelimit --lib -- loom_models`. Each model
//! races 2 or 3 threads on one core at the same `now`, asserting inside
//! the model that no more than the limit is admitted, and the final state
//! after the joins.

use crate::config::Limit;
use crate::gcra::Gcra;
use crate::quota::Quota;
use crate::shards::Shards;
use crate::state::Rule;
use crate::sync::StripedCounter;
use crate::window::{FixedWindow, SlidingWindow, Window};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::num::NonZeroU32;
use std::time::Duration;

const SEC: u64 = 1_000_000_000;

fn gcra(burst: u32) -> Gcra {
    let q =
        Quota::per_second(NonZeroU32::new(1).unwrap()).allow_burst(NonZeroU32::new(burst).unwrap());
    Gcra::new(q).unwrap()
}

/// Runs `check` on `threads` threads; returns how many it admitted,
/// asserting inside the model that the count never passes `limit`.
fn race<L: Send + Sync + 'static>(
    limiter: L,
    threads: usize,
    limit: usize,
    check: fn(&L) -> bool,
) -> (Arc<L>, usize) {
    let limiter = Arc::new(limiter);
    let admitted = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (limiter, admitted) = (limiter.clone(), admitted.clone());
            thread::spawn(move || {
                if check(&limiter) {
                    let before = admitted.fetch_add(1, Ordering::SeqCst);
                    assert!(before < limit, "admitted more than the quota");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let n = admitted.load(Ordering::SeqCst);
    (limiter, n)
}

#[test]
fn three_checks_race_for_a_burst_of_two() {
    loom::model(|| {
        let (g, admitted) = race(gcra(2), 3, 2, |g| g.check(0).is_ok());
        assert_eq!(admitted, 2, "exactly the burst");
        assert_eq!(g.tat(), 2 * SEC);
    });
}

#[test]
fn n_cell_checks_race_for_a_burst_of_three() {
    loom::model(|| {
        // Two threads want 2 cells each out of 3: exactly one gets them.
        let (g, admitted) = race(gcra(3), 2, 1, |g| g.check_n(2, 0).is_ok());
        assert_eq!(admitted, 1);
        assert_eq!(g.tat(), 2 * SEC);
    });
}

#[test]
fn waiters_reserve_distinct_cells() {
    loom::model(|| {
        // Burst 1, max wait 1s: the two reservations get waits 0 and 1s.
        let g = Arc::new(gcra(1));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let g = g.clone();
                thread::spawn(move || g.reserve_n(1, 0, SEC).expect("fits within 1s"))
            })
            .collect();
        let mut waits: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        waits.sort_unstable();
        assert_eq!(waits, [0, SEC]);
        assert!(g.check(0).is_err());
    });
}

#[test]
fn fixed_window_checks_race_for_its_limit() {
    loom::model(|| {
        let w = FixedWindow::new(Window::new(2, Duration::from_secs(1)).unwrap());
        let (w, admitted) = race(w, 3, 2, |w| w.check(0).is_ok());
        assert_eq!(admitted, 2);
        assert!(w.check(0).is_err());
    });
}

#[test]
fn sliding_window_checks_race_for_its_limit() {
    loom::model(|| {
        let w = SlidingWindow::new(Window::new(2, Duration::from_secs(1)).unwrap()).unwrap();
        let (w, admitted) = race(w, 3, 2, |w| w.check(0).is_ok());
        assert_eq!(admitted, 2);
        assert!(w.check(0).is_err());
    });
}

fn rule(burst: u32) -> Rule {
    let q =
        Quota::per_second(NonZeroU32::new(1).unwrap()).allow_burst(NonZeroU32::new(burst).unwrap());
    Rule::new(&Limit::Gcra(q))
}

#[test]
fn two_checks_of_a_new_key_race_for_a_burst_of_one() {
    loom::model(|| {
        // One shard: the seeded hash must not pick a different lock in
        // each execution.
        let shards = Arc::new(Shards::<u64, _>::new(
            1,
            hashbrown::DefaultHashBuilder::default(),
        ));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let shards = shards.clone();
                thread::spawn(move || {
                    let r = rule(1);
                    shards.with_state(&7, 0, &r, |s| r.reserve_n(s, 1, 0, 0).is_ok())
                })
            })
            .collect();
        let admitted = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&ok| ok)
            .count();
        assert_eq!(admitted, 1, "one insert, one state, one cell");
        assert_eq!(shards.len(), 1);
    });
}

#[test]
fn eviction_racing_a_check_never_admits_twice() {
    loom::model(|| {
        let shards = Arc::new(Shards::<u64, _>::new(
            1,
            hashbrown::DefaultHashBuilder::default(),
        ));
        let r = rule(1);
        // The key exists and is idle: an eviction may drop it before or
        // after the check takes its cell, never in a way that gives the
        // cell twice.
        shards.with_state(&7, 0, &r, |_| ());
        let checker = {
            let shards = shards.clone();
            thread::spawn(move || {
                let r = rule(1);
                shards.with_state(&7, 0, &r, |s| r.reserve_n(s, 1, 0, 0).is_ok())
            })
        };
        let evictor = {
            let shards = shards.clone();
            thread::spawn(move || shards.evict_idle(&rule(1), 0))
        };
        assert!(checker.join().unwrap());
        let evicted = evictor.join().unwrap();
        assert!(evicted <= 1);
        assert!(
            !shards.with_state(&7, 0, &r, |s| r.reserve_n(s, 1, 0, 0).is_ok()),
            "the cell taken stays taken"
        );
    });
}

#[test]
fn admitted_counts_from_two_threads_are_each_counted_once() {
    loom::model(|| {
        // The striped counter every admitted check adds to (ballast-core's,
        // the production code): each thread writes its own stripe with a
        // load and a store (no locked instruction); a reader sums the
        // stripes while both count.
        let counter = Arc::new(StripedCounter::default());
        counter.add();
        let other = {
            let counter = counter.clone();
            thread::spawn(move || {
                counter.add();
                counter.add();
            })
        };
        counter.add();
        let seen = counter.sum();
        assert!((2..=4).contains(&seen), "a sum of {seen} mid-race");
        other.join().unwrap();
        assert_eq!(counter.sum(), 4, "a bump was lost or doubled");
    });
}

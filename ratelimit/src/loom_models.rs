//! Loom models of the lock-free cores.
//!
//! Run with `RUSTFLAGS="--cfg ballast_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p ballast-ratelimit --lib -- loom_models`. Each model
//! races 2 or 3 threads on one core at the same `now`, asserting inside
//! the model that no more than the limit is admitted, and the final state
//! after the joins.

use crate::gcra::Gcra;
use crate::quota::Quota;
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

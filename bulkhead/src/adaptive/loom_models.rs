//! Loom models of the adaptive limiter's core.
//!
//! Run with `RUSTFLAGS="--cfg ballast_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p ballast-bulkhead --lib -- loom_models`. Each model
//! asserts its invariant inside the threads and the final state after the
//! joins.

use super::algorithm::{LimitAlgorithm, Sample, Update};
use super::limiter::{Admit, Limiter};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// Adds one per window.
struct Up;

impl LimitAlgorithm for Up {
    fn name(&self) -> &'static str {
        "up"
    }
    fn update(&mut self, limit: f64, _: &Sample) -> Update {
        Update::new(limit + 1.0, "up")
    }
}

fn limiter(initial: u32, min_window: u32) -> Arc<Limiter> {
    Arc::new(Limiter::new(Box::new(Up), initial, 1, 8, min_window, false))
}

/// Admits a call if it can, counting it in `running`, checks that no more
/// than `most` ever run at once, and gives it back.
fn call_once(l: &Limiter, running: &AtomicUsize, most: usize) -> bool {
    match l.try_acquire() {
        Admit::Yes { in_flight } => {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(now <= most, "{now} running, never more than {most} allowed");
            assert!(in_flight as usize <= most);
            running.fetch_sub(1, Ordering::SeqCst);
            l.release();
            true
        }
        Admit::Over { .. } => panic!("not in shadow mode"),
        Admit::No => false,
    }
}

#[test]
fn a_limit_moving_down_and_up_never_lets_more_than_it_in() {
    loom::model(|| {
        let l = limiter(2, 8);
        let running = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (l, running) = (l.clone(), running.clone());
                thread::spawn(move || call_once(&l, &running, 2))
            })
            .collect();
        l.set_limit(1, 1);
        l.set_limit(2, 2);
        for c in callers {
            c.join().unwrap();
        }
        assert_eq!((l.in_flight(), l.limit()), (0, 2));
    });
}

#[test]
fn a_lowered_limit_admits_no_one_while_the_old_calls_run() {
    loom::model(|| {
        let l = limiter(2, 8);
        assert!(matches!(l.try_acquire(), Admit::Yes { in_flight: 1 }));
        let lowerer = {
            let l = l.clone();
            thread::spawn(move || l.set_limit(1, 1))
        };
        let caller = {
            let l = l.clone();
            thread::spawn(move || l.try_acquire())
        };
        lowerer.join().unwrap();
        let got = caller.join().unwrap();
        // Admitted only if it came before the lowering: then two hold
        // permits under a limit of 1, and nobody else gets in.
        let held = match got {
            Admit::Yes { in_flight } => {
                assert_eq!(in_flight, 2);
                2
            }
            Admit::No => 1,
            Admit::Over { .. } => panic!("not in shadow mode"),
        };
        assert_eq!((l.in_flight(), l.limit()), (held, 1));
        assert_eq!(l.try_acquire(), Admit::No);
        for _ in 0..held {
            l.release();
        }
        assert_eq!(l.in_flight(), 0);
        assert!(matches!(l.try_acquire(), Admit::Yes { in_flight: 1 }));
    });
}

#[test]
fn cancelled_calls_give_their_permits_back_and_record_nothing() {
    loom::model(|| {
        // A window is two calls (the limit).
        let l = limiter(2, 1);
        let finished = {
            let l = l.clone();
            thread::spawn(move || {
                let Admit::Yes { in_flight } = l.try_acquire() else {
                    panic!("a limit of 2 admits two")
                };
                let change = l.record(0, in_flight, 5, false);
                l.release();
                change
            })
        };
        let cancelled = {
            let l = l.clone();
            thread::spawn(move || {
                let Admit::Yes { .. } = l.try_acquire() else {
                    panic!("a limit of 2 admits two")
                };
                // Dropped before it finished: given back, not recorded.
                l.release();
            })
        };
        assert_eq!(finished.join().unwrap(), None, "one call is half a window");
        cancelled.join().unwrap();
        assert_eq!((l.window_calls(), l.estimates().windows), (1, 0));
        assert_eq!(l.in_flight(), 0);
        // A second finished call closes the window.
        assert!(matches!(l.try_acquire(), Admit::Yes { .. }));
        let change = l.record(0, 1, 5, false).expect("window closed");
        l.release();
        assert_eq!((change.old, change.new), (2, 3));
        assert_eq!((l.in_flight(), l.limit()), (0, 3));
    });
}

#[test]
fn two_calls_closing_one_window_update_the_limit_once() {
    loom::model(|| {
        let l = limiter(2, 2);
        let finishers: Vec<_> = (0..2)
            .map(|_| {
                let l = l.clone();
                thread::spawn(move || {
                    let Admit::Yes { in_flight } = l.try_acquire() else {
                        panic!("a limit of 2 admits two")
                    };
                    let change = l.record(0, in_flight, 5, false);
                    l.release();
                    change.is_some()
                })
            })
            .collect();
        let changes = finishers
            .into_iter()
            .map(|f| f.join().unwrap())
            .filter(|&changed| changed)
            .count();
        assert_eq!(changes, 1);
        assert_eq!(l.estimates().windows, 1);
        assert_eq!((l.in_flight(), l.limit()), (0, 3));
    });
}

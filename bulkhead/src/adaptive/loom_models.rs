//! Loom models of the adaptive limiter's core.
//!
//! Run with `RUSTFLAGS="--cfg ballast_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p ballast-bulkhead --lib -- loom_models`. Each model
//! asserts its invariant inside the threads and the final state after the
//! joins.
//!
//! Recording is lock-free but for each window's one closer; the models
//! show that concurrent finishes are each counted once, that a window has
//! exactly one closer, that a sample racing a window's close lands in
//! exactly one window or is left out (never in the next window's sums),
//! and that the limit is never exceeded while it moves.

use super::algorithm::{LimitAlgorithm, Sample, Update};
use super::limiter::{Admit, Limiter};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::time::Duration;

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

/// Keeps the limit (so no generation moves) and remembers every window's
/// sample. A plain std mutex: only the closer, under the limiter's lock,
/// touches it, so it is never contended.
struct Spy(std::sync::Arc<std::sync::Mutex<Vec<Sample>>>);

impl LimitAlgorithm for Spy {
    fn name(&self) -> &'static str {
        "spy"
    }
    fn update(&mut self, limit: f64, sample: &Sample) -> Update {
        self.0.lock().unwrap().push(*sample);
        Update::new(limit, "kept")
    }
}

type Seen = std::sync::Arc<std::sync::Mutex<Vec<Sample>>>;

/// A limiter whose windows are `size` calls and whose limit stays put.
fn spied(size: u32) -> (Arc<Limiter>, Seen) {
    let seen = Seen::default();
    let spy = Box::new(Spy(seen.clone()));
    (Arc::new(Limiter::new(spy, size, 1, 8, size, false)), seen)
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos() as u64
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
        l.set_limit(1);
        l.set_limit(2);
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
            thread::spawn(move || l.set_limit(1))
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
                let change = l.record_at(0, 0, in_flight, 5, false);
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
        let change = l.record_at(0, 0, 1, 5, false).expect("window closed");
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
                    let change = l.record_at(0, 0, in_flight, 5, false);
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

#[test]
fn concurrent_finishes_are_each_counted_once_in_one_sample() {
    loom::model(|| {
        let (l, seen) = spied(2);
        // Round trips 2 and 6; in flight 1 and 2; the second dropped.
        let finishers: Vec<_> = [(2, 1, false), (6, 2, true)]
            .into_iter()
            .map(|(rtt, in_flight, dropped)| {
                let l = l.clone();
                thread::spawn(move || {
                    l.record_at(0, 10, in_flight, 10 + rtt, dropped);
                })
            })
            .collect();
        for f in finishers {
            f.join().unwrap();
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "two calls make exactly one window");
        let s = seen[0];
        assert_eq!((s.calls, s.dropped_calls, s.in_flight), (2, 1, 2));
        // The mean and minimum of the call not dropped.
        assert_eq!((nanos(s.rtt), nanos(s.min_rtt)), (2, 2));
        assert_eq!(l.window_calls(), 0, "the next window starts empty");
    });
}

#[test]
fn a_sample_racing_a_window_close_lands_in_one_window_only() {
    loom::model(|| {
        let (l, seen) = spied(2);
        // Three calls race for a window of two: round trips 2, 4 and 8, so
        // any sum tells which calls it holds (and every mean is exact).
        let finishers: Vec<_> = [2, 4]
            .into_iter()
            .map(|rtt| {
                let l = l.clone();
                thread::spawn(move || {
                    l.record_at(0, 10, 1, 10 + rtt, false);
                })
            })
            .collect();
        l.record_at(0, 10, 1, 18, false);
        for f in finishers {
            f.join().unwrap();
        }
        let first = {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 1, "three calls close one window of two");
            seen[0]
        };
        assert_eq!(first.calls, 2);
        let first_sum = nanos(first.rtt) * 2;
        assert!([6, 10, 12].contains(&first_sum), "two distinct calls");
        // The third call is in the next window, or was left out because
        // the window was full while its closer worked: never both, never
        // in the first window's sums.
        let left = l.window_calls();
        assert!(left <= 1);
        // Fill the next window with calls of round trip 16 and read it.
        for _ in left..2 {
            l.record_at(0, 20, 1, 36, false);
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        let second_sum = nanos(seen[1].rtt) * 2;
        let expected = if left == 1 { 14 - first_sum + 16 } else { 32 };
        assert_eq!((seen[1].calls, second_sum), (2, expected));
    });
}

#[test]
fn a_call_started_before_a_limit_change_is_left_out_of_every_window() {
    loom::model(|| {
        // Windows of one call; each closes and raises the limit.
        let l = limiter(1, 1);
        let early = {
            let l = l.clone();
            // Started at 0, finished at 10.
            thread::spawn(move || l.record_at(0, 0, 1, 10, false).is_some())
        };
        // Started at 5, finished at 12.
        let late = l.record_at(0, 5, 1, 12, false).is_some();
        let early = early.join().unwrap();
        // Whichever closed the first window moved the limit (1 -> 2) and
        // the generation past the other's, so the other was left out (the
        // second window is two calls: it cannot have closed it).
        assert!(early ^ late, "exactly one closer");
        assert_eq!((l.limit(), l.estimates().windows), (2, 1));
        assert_eq!(l.window_calls(), 0, "the left-out call is in no window");
        // The next window is clean: two new calls close it.
        let g = l.generation();
        assert_eq!(g, 1, "one limit change");
        assert_eq!(l.record_at(g, 20, 1, 30, false), None);
        let change = l
            .record_at(g, 20, 1, 30, false)
            .expect("second window closed");
        assert_eq!((change.old, change.new), (2, 3));
    });
}

#[test]
fn a_limit_set_by_hand_racing_a_close_discards_the_old_window() {
    loom::model(|| {
        let l = limiter(1, 1);
        let finisher = {
            let l = l.clone();
            // Started at 0: before the change by hand at 1.
            thread::spawn(move || {
                l.record_at(0, 0, 1, 5, false);
            })
        };
        l.set_limit(3);
        finisher.join().unwrap();
        // The call closed its window before the change (limit 1 -> 2, then
        // set to 3), or it was left out, or its window was discarded as
        // stale: the limit is the one set by hand either way.
        assert_eq!(l.limit(), 3);
        assert!(l.estimates().windows <= 1);
        assert_eq!(l.window_calls(), 0);
        // The window open now is clean. If it was opened before the
        // change (of one or two calls), it is discarded whole when it
        // closes; then a window of three, and the algorithm runs again.
        let mut changed = None;
        for _ in 0..5 {
            if let Some(c) = l.record_at(l.generation(), 10, 1, 20, false) {
                changed = Some(c);
                break;
            }
        }
        let c = changed.expect("the algorithm resumed");
        assert_eq!((c.old, c.new), (3, 4));
    });
}

#[test]
fn a_limit_moved_by_closing_windows_never_lets_more_than_it_in() {
    loom::model(|| {
        // Windows of one call: each finished call closes one and raises
        // the limit from 1, while another caller tries to get in.
        let l = limiter(1, 1);
        let running = Arc::new(AtomicUsize::new(0));
        let closer = {
            let (l, running) = (l.clone(), running.clone());
            thread::spawn(move || match l.try_acquire() {
                Admit::Yes { in_flight } => {
                    let g = l.generation();
                    running.fetch_add(1, Ordering::SeqCst);
                    let change = l.record_at(g, 0, in_flight, 5, false);
                    running.fetch_sub(1, Ordering::SeqCst);
                    l.release();
                    change.is_some()
                }
                _ => false,
            })
        };
        let got = match l.try_acquire() {
            Admit::Yes { in_flight } => {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                // Before the close, the limit is 1: only one runs.
                assert!(now as u32 <= l.limit(), "{now} running over the limit");
                assert!(in_flight <= 2);
                running.fetch_sub(1, Ordering::SeqCst);
                l.release();
                true
            }
            Admit::No => false,
            Admit::Over { .. } => panic!("not in shadow mode"),
        };
        let closed = closer.join().unwrap();
        assert!(got || closed, "someone got the one slot");
        assert_eq!(l.in_flight(), 0);
    });
}

//! Loom models of the breaker's concurrent core.
//!
//! Run with `RUSTFLAGS="--cfg ballast_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p ballast-circuit-breaker --lib -- loom_models`. Each
//! model is two threads over one `Core`, asserting its invariant inside
//! the model and the final state after the joins.

use crate::classify::Outcome;
use crate::config::{Config, SlidingWindow};
use crate::core::{Core, Kind, Ticket};
use crate::state::State;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::time::Duration;

const SEC: u64 = 1_000_000_000;

fn core(permits: u32) -> Core {
    Core::new(
        Config::builder()
            .sliding_window(SlidingWindow::count(4))
            .minimum_calls(2)
            .failure_rate_threshold(50.0)
            .wait_in_open(Duration::from_secs(1))
            .half_open_permits(permits)
            .seed(1)
            .build()
            .expect("valid config"),
    )
}

/// Counts transitions into `to` seen by listeners.
fn count_transitions(core: &Core, to: State) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    core.events.subscribe(std::sync::Arc::new(move |e| {
        if e.to == to {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    }));
    n
}

/// Puts a fresh core in half-open: open at 0, first call after the wait.
fn half_open(permits: u32) -> Core {
    let c = core(permits);
    c.force(State::Open, 0);
    c
}

fn probe(c: &Core, now: u64) -> Option<Ticket> {
    c.try_acquire(&now).ok().filter(|t| t.kind() == Kind::Probe)
}

#[test]
fn racing_failures_trip_the_circuit_exactly_once() {
    loom::model(|| {
        let c = Arc::new(core(1));
        let opened = count_transitions(&c, State::Open);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                thread::spawn(move || {
                    let t = c.try_acquire(&0).expect("closed admits");
                    c.finish(t, Outcome::Failure, &0);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.state(), State::Open);
        assert_eq!(opened.load(Ordering::SeqCst), 1, "one trip, one transition");
    });
}

#[test]
fn two_probes_race_for_one_half_open_slot() {
    loom::model(|| {
        let c = Arc::new(half_open(1));
        let half_opened = count_transitions(&c, State::HalfOpen);
        let granted = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (c, granted) = (c.clone(), granted.clone());
                thread::spawn(move || {
                    // A granted ticket is never finished: the slot stays
                    // taken, so the other thread must be refused.
                    if probe(&c, 2 * SEC).is_some() {
                        let before = granted.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(before, 0, "half-open admitted more than its permits");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(granted.load(Ordering::SeqCst), 1);
        assert_eq!(
            half_opened.load(Ordering::SeqCst),
            1,
            "one wait elapsed, one transition"
        );
        assert_eq!(c.probe_counts().issued, 1);
    });
}

#[test]
fn cancelled_probe_never_leaks_its_slot() {
    loom::model(|| {
        let c = Arc::new(half_open(1));
        let first = probe(&c, 2 * SEC).expect("the first probe gets the slot");
        let canceller = {
            let c = c.clone();
            // A cancelled call: the permit guard records Ignore on drop.
            thread::spawn(move || c.finish(first, Outcome::Ignore, &(2 * SEC)))
        };
        let contender = {
            let c = c.clone();
            thread::spawn(move || probe(&c, 2 * SEC))
        };
        canceller.join().unwrap();
        let second = contender.join().unwrap();
        let counts = c.probe_counts();
        match second {
            // It got the slot back after the cancellation.
            Some(_) => assert_eq!(counts.issued, 1),
            // It came too early; the slot must be free now.
            None => {
                assert_eq!(counts.issued, 0, "cancelled probe leaked its slot");
                assert!(probe(&c, 2 * SEC).is_some());
            }
        }
        assert_eq!(c.state(), State::HalfOpen, "a cancellation decides nothing");
    });
}

#[test]
fn probe_outcomes_close_the_circuit_exactly_once() {
    loom::model(|| {
        let c = Arc::new(half_open(2));
        let closed = count_transitions(&c, State::Closed);
        let tickets = [probe(&c, 2 * SEC).unwrap(), probe(&c, 2 * SEC).unwrap()];
        assert!(probe(&c, 2 * SEC).is_none(), "only two permits");
        let threads: Vec<_> = tickets
            .into_iter()
            .map(|t| {
                let c = c.clone();
                thread::spawn(move || c.finish(t, Outcome::Success, &(2 * SEC)))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.state(), State::Closed);
        assert_eq!(closed.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn stale_probe_from_an_earlier_stay_cannot_free_a_slot_of_the_next() {
    loom::model(|| {
        let c = Arc::new(half_open(1));
        let stale = probe(&c, 2 * SEC).unwrap();
        let word = c.word();
        // Half-open times out: a new open stay, then a new half-open stay.
        let mover = {
            let c = c.clone();
            thread::spawn(move || {
                c.transition(word, State::Open, crate::events::Cause::Manual, 2 * SEC);
            })
        };
        let late = {
            let c = c.clone();
            thread::spawn(move || c.finish(stale, Outcome::Ignore, &(2 * SEC)))
        };
        mover.join().unwrap();
        late.join().unwrap();
        // The next stay, after the 1 s open wait, has exactly one slot.
        assert!(probe(&c, 10 * SEC).is_some(), "new stay admits a probe");
        assert!(
            probe(&c, 10 * SEC).is_none(),
            "stale release must not add a slot"
        );
    });
}

#[test]
fn concurrent_records_keep_window_counts_consistent() {
    loom::model(|| {
        let c = Arc::new(Core::new(
            Config::builder()
                .sliding_window(SlidingWindow::count(4))
                .minimum_calls(4)
                .seed(1)
                .build()
                .unwrap(),
        ));
        let threads: Vec<_> = [Outcome::Failure, Outcome::Success]
            .into_iter()
            .map(|o| {
                let c = c.clone();
                thread::spawn(move || {
                    let t = c.try_acquire(&0).unwrap();
                    c.finish(t, o, &0);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let m = c.metrics(0);
        assert_eq!((m.calls, m.failures), (2, 1));
        assert_eq!(m.state, State::Closed);
        let (dirty, counted) = c.window_dirty_check();
        assert_eq!(dirty, counted, "the set-bit counter drifted");
    });
}

#[test]
fn a_record_racing_a_reset_leaves_the_bit_counter_exact() {
    loom::model(|| {
        let c = Arc::new(Core::new(
            Config::builder()
                .sliding_window(SlidingWindow::count(1))
                .minimum_calls(1)
                .failure_rate_threshold(100.0)
                .seed(1)
                .build()
                .unwrap(),
        ));
        // A full, clean window of one call: the next success is skipped.
        let t = c.try_acquire(&0).unwrap();
        c.finish(t, Outcome::Success, &0);
        let failing = c.try_acquire(&0).unwrap();
        let succeeding = c.try_acquire(&0).unwrap();
        let threads = vec![
            {
                let c = c.clone();
                thread::spawn(move || c.finish(failing, Outcome::Failure, &0))
            },
            {
                let c = c.clone();
                thread::spawn(move || c.finish(succeeding, Outcome::Success, &0))
            },
            {
                let c = c.clone();
                thread::spawn(move || c.force(State::Closed, 0))
            },
        ];
        for t in threads {
            t.join().unwrap();
        }
        let (dirty, counted) = c.window_dirty_check();
        assert_eq!(dirty, counted, "the set-bit counter drifted");
        let m = c.metrics(0);
        assert!(m.failures <= m.calls && m.calls <= 1);
    });
}

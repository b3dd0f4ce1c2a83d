//! Loom models of the breaker's concurrent core.
//!
//! Run with `RUSTFLAGS="--cfg ballast_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p ballast-circuit-breaker --lib -- loom_models`. Each
//! model is two or three threads over one `Core` (or one time window),
//! asserting its invariant inside the model and the final state after the
//! joins.

use crate::classify::Outcome;
use crate::config::{Config, SlidingWindow};
use crate::core::{Core, Kind, Ticket};
use crate::state::State;
use crate::window::samples::{FAIL, OK};
use crate::window::{Counts, TimeWindow};
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

/// The open -> half-open move by time, made by the automatic timer's tick
/// or by a call that finds the wait over, whichever comes first.
#[test]
fn timer_tick_races_a_call_to_end_the_open_wait() {
    loom::model(|| {
        let c = Arc::new(half_open(1));
        let half_opened = count_transitions(&c, State::HalfOpen);
        let open = c.word();
        assert_eq!(open.state(), State::Open);
        let timer = {
            let c = c.clone();
            thread::spawn(move || c.tick(open, 2 * SEC))
        };
        let caller = {
            let c = c.clone();
            thread::spawn(move || {
                let ticket = c.try_acquire(&(2 * SEC)).expect("the wait is over");
                // Whoever moved it, the call is a probe of the new stay.
                assert_eq!(ticket.kind(), Kind::Probe);
                assert_eq!(ticket.word.state(), State::HalfOpen);
                ticket
            })
        };
        timer.join().unwrap();
        let ticket = caller.join().unwrap();
        assert_eq!(
            half_opened.load(Ordering::SeqCst),
            1,
            "one wait, one transition"
        );
        assert_eq!(c.state(), State::HalfOpen);
        assert_eq!(c.probe_counts().issued, 1);
        // The probe's slot is the only one: a late tick changes nothing.
        c.tick(open, 3 * SEC);
        assert!(probe(&c, 3 * SEC).is_none(), "one permit");
        c.finish(ticket, Outcome::Success, &(2 * SEC));
        assert_eq!(c.state(), State::Closed);
    });
}

/// Two calls and the timer race at the end of the wait; one permit.
#[test]
fn timer_tick_racing_two_calls_admits_one_probe() {
    loom::model(|| {
        let c = Arc::new(half_open(1));
        let half_opened = count_transitions(&c, State::HalfOpen);
        let open = c.word();
        let granted = Arc::new(AtomicUsize::new(0));
        let mut threads = vec![{
            let c = c.clone();
            thread::spawn(move || c.tick(open, 2 * SEC))
        }];
        for _ in 0..2 {
            let (c, granted) = (c.clone(), granted.clone());
            threads.push(thread::spawn(move || {
                if probe(&c, 2 * SEC).is_some() {
                    let before = granted.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(before, 0, "half-open admitted more than its permits");
                }
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(granted.load(Ordering::SeqCst), 1);
        assert_eq!(half_opened.load(Ordering::SeqCst), 1);
        assert_eq!(c.probe_counts().issued, 1);
    });
}

/// A time window of two 1 s buckets holding one failure at 0 s. A call
/// that read the clock at 0.5 s records into bucket 0 while a call at 2 s
/// recycles that bucket for period 2 (and expires period 0) and reads the
/// rates, as the breaker does after a record.
#[test]
fn a_late_record_races_the_recycle_of_its_bucket() {
    loom::model(|| {
        let w = Arc::new(TimeWindow::new(Duration::from_secs(2), 2));
        w.record(FAIL, 0);
        let recycler = {
            let w = w.clone();
            thread::spawn(move || {
                w.record(OK, 2 * SEC);
                let c = w.counts(2 * SEC);
                // Never a failure without its call, never a wrapped total.
                assert!(c.failures <= c.calls && c.calls <= 2, "{c:?}");
                assert!(c.calls >= 1, "its own call counts");
            })
        };
        let late = {
            let w = w.clone();
            thread::spawn(move || w.record(FAIL, SEC / 2))
        };
        recycler.join().unwrap();
        late.join().unwrap();
        let (totals, sum) = w.totals_and_bucket_sum();
        assert_eq!(totals, sum, "the running totals drifted");
        // The first failure aged out; the late one went with it, landed in
        // the new period, or was split: its call kept, its failure gone (a
        // rate below the truth). Never its failure kept without its call.
        let c = w.counts(2 * SEC);
        let allowed = [
            Counts {
                calls: 1,
                failures: 0,
                slow: 0,
            },
            Counts {
                calls: 2,
                failures: 1,
                slow: 0,
            },
            Counts {
                calls: 2,
                failures: 0,
                slow: 0,
            },
        ];
        assert!(allowed.contains(&c), "{c:?}");
    });
}

/// A read of the rates races the subtraction of an expired bucket: it
/// must never see the bucket's calls gone but its failures still there (a
/// rate above the truth, which could trip the breaker).
#[test]
fn a_read_racing_an_expiry_never_sees_a_rate_above_the_truth() {
    loom::model(|| {
        let w = Arc::new(TimeWindow::new(Duration::from_secs(2), 2));
        // Period 0: two calls, one failed (50%); period 1: two successes.
        w.record(FAIL, 0);
        w.record(OK, 0);
        w.record(OK, SEC);
        w.record(OK, SEC);
        let expirer = {
            let w = w.clone();
            // At 2 s period 0 ages out: 0 failures of 2 calls.
            thread::spawn(move || w.counts(2 * SEC))
        };
        let reader = {
            let w = w.clone();
            // Read at 1.5 s: no expiry of its own, sees before or after.
            thread::spawn(move || w.counts(3 * SEC / 2))
        };
        let after = expirer.join().unwrap();
        let seen = reader.join().unwrap();
        assert_eq!(
            after,
            Counts {
                calls: 2,
                failures: 0,
                slow: 0
            }
        );
        let before = Counts {
            calls: 4,
            failures: 1,
            slow: 0,
        };
        assert!(seen == before || seen == after, "a torn read: {seen:?}");
        let (totals, sum) = w.totals_and_bucket_sum();
        assert_eq!(totals, sum);
    });
}

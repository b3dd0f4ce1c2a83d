//! The adaptive limiter's concurrent core: admission against a limit that
//! moves, and the windows of samples that move it. No clock, no tokio, no
//! tower: a finished call's time comes in through [`Timing`], which the
//! caller implements and the limiter reads only for a call it records.
//!
//! # Implementation notes
//!
//! One `AtomicU64` holds what admission needs:
//!
//! - bits 0..32: calls in flight (admitted, not yet given back);
//! - bits 32..64: the limit.
//!
//! Who writes what:
//!
//! - Admission ([`Limiter::try_acquire`]) is one CAS from `w` to `w + 1`,
//!   only while the in-flight half is below the limit half *of the same
//!   value*, so no call is ever admitted past the limit it saw, however the
//!   limit moves meanwhile. In shadow mode a call over the limit is
//!   admitted anyway (the same CAS) and reported as such.
//! - Giving back ([`Limiter::release`]) is one `fetch_sub(1)`: the in-flight
//!   half is at least 1 while a permit is held, so it never borrows from
//!   the limit half.
//! - The limit half is written only under the window lock (by a window that
//!   closes, or by [`Limiter::set_limit`]), by a CAS loop that keeps the
//!   in-flight half as it finds it. A lowered limit never takes permits
//!   back: calls already in flight finish, and admission stays shut until
//!   fewer than the new limit remain.
//!
//! A finished call adds its sample to the window being filled without a
//! lock: a ticket (one CAS), a few `fetch_add`/`fetch_min`/`fetch_max`
//! on one cache line, and a `done` count (`window`'s module docs hold the
//! protocol and its orderings). The call whose sample fills the window is
//! its one closer: it alone takes the window lock (the family's `Mutex`:
//! parking_lot, or loom's), to run the algorithm, publish the new limit
//! and open the next window. Other finished calls never wait for it; one
//! that finds the window full while its closer works is left out. The
//! lock is otherwise taken only by [`Limiter::set_limit`] and the
//! snapshot.
//!
//! A window holds only calls that started at or after the last limit
//! change (the `generation` a call reads when it is admitted and hands
//! back when it finishes): a call begun earlier measured the old limit.
//! It closes after as many calls as the limit (one round trip's worth: every slot of
//! the limit used once), and no fewer than `min_window`. Its size is fixed
//! when it opens. A limit set by hand cannot resize the window being
//! filled (its calls hold tickets to it), so that window is discarded
//! when it closes, and the algorithm resumes with the next one.

use super::algorithm::{LimitAlgorithm, Sample};
use super::window::{Seat, Tally};
use crate::sync::{AtomicU64, CachePadded, Mutex, Ordering};
use ballast_core::Nanos;
use std::time::Duration;

const COUNT: u64 = (1 << 32) - 1;
const LIMIT_SHIFT: u32 = 32;

/// A finished call's round trip, read only if the call is recorded.
pub(crate) trait Timing {
    /// The end of the call: a clock read.
    type End;
    /// Reads the clock.
    fn end(&self) -> Self::End;
    /// The round trip, in nanoseconds, from the start to `end`.
    fn rtt(&self, end: &Self::End) -> Nanos;
    /// `end` as the limiter's time (for [`Sample::now`]).
    fn now(&self, end: &Self::End) -> Nanos;
}

/// A call that started at `.0` and ended at `.1`: for tests.
impl Timing for (Nanos, Nanos) {
    type End = ();
    fn end(&self) {}
    fn rtt(&self, _: &()) -> Nanos {
        self.1.saturating_sub(self.0)
    }
    fn now(&self, _: &()) -> Nanos {
        self.1
    }
}

/// What asking for a permit got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Admitted; `in_flight` counts this call.
    Yes { in_flight: u32 },
    /// Shadow mode: admitted although `in_flight - 1` calls already used up
    /// the limit; enforcing, it would have been refused.
    Over { in_flight: u32 },
    /// Refused: the limit is used up.
    No,
}

/// A limit change made by a closing window or by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) old: u32,
    pub(crate) new: u32,
    pub(crate) why: &'static str,
}

/// What only the closer of a window (or a change by hand) touches: the
/// algorithm and the estimates for the snapshot.
struct Window {
    algorithm: Box<dyn LimitAlgorithm>,
    /// The algorithm's limit, unrounded, within the bounds.
    estimate: f64,
    /// The limit was set by hand while the open window was filling: that
    /// window measured the old limit and is discarded when it closes.
    stale: bool,
    /// The last closed window's round trip and the shortest ever seen, for
    /// the snapshot.
    last_rtt: Option<Duration>,
    min_rtt: Option<Duration>,
    windows: u64,
}

/// What the snapshot reads under the window lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Estimates {
    pub(crate) last_rtt: Option<Duration>,
    pub(crate) min_rtt: Option<Duration>,
    pub(crate) windows: u64,
}

/// The shared admission word and sample windows.
pub(crate) struct Limiter {
    /// The hot word (limit and in flight), on a line of its own.
    word: CachePadded<AtomicU64>,
    /// The window being filled: lock-free counters on a line of their own.
    tally: Tally,
    /// The last window's mean round trip in nanoseconds (0: none yet), for
    /// the retry-after hint of a refusal without taking the lock.
    last_rtt: CachePadded<AtomicU64>,
    min_limit: f64,
    max_limit: f64,
    min_window: u32,
    shadow: bool,
    window: Mutex<Window>,
}

impl Limiter {
    /// A limiter starting at `initial` (within `min..=max`, all at least 1
    /// and below 2^32), closing a window every `min_window` calls.
    pub(crate) fn new(
        algorithm: Box<dyn LimitAlgorithm>,
        initial: u32,
        min: u32,
        max: u32,
        min_window: u32,
        shadow: bool,
    ) -> Self {
        let min_window = min_window.max(1);
        Self {
            word: CachePadded(AtomicU64::new(u64::from(initial) << LIMIT_SHIFT)),
            tally: Tally::new(min_window.max(initial)),
            last_rtt: CachePadded(AtomicU64::new(0)),
            min_limit: f64::from(min),
            max_limit: f64::from(max),
            min_window,
            shadow,
            window: Mutex::new(Window {
                algorithm,
                estimate: f64::from(initial),
                stale: false,
                last_rtt: None,
                min_rtt: None,
                windows: 0,
            }),
        }
    }

    /// The size of a window under `estimate`: one limit's worth of calls
    /// (about one round trip, so it sees the limit in full use), and at
    /// least `min_window`.
    fn window_size(&self, estimate: f64) -> u32 {
        // The estimate is within the bounds, both u32: the cast is exact.
        self.min_window.max(estimate as u32)
    }

    /// Admits a call if fewer than the limit are in flight (in shadow mode,
    /// always). Atomics only: one CAS.
    #[inline]
    pub(crate) fn try_acquire(&self) -> Admit {
        // Relaxed: the CAS below validates the value.
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            let in_flight = w & COUNT;
            let over = in_flight >= w >> LIMIT_SHIFT;
            if over && !self.shadow {
                return Admit::No;
            }
            // Acquire: pairs with the Release of the `release` that freed
            // this slot, so the previous holder's work happens-before ours.
            match self
                .word
                .compare_exchange_weak(w, w + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => {
                    // The in-flight half fits 32 bits: it is at most the
                    // limit (< 2^32) or, in shadow mode, the calls alive.
                    let in_flight = (in_flight + 1) as u32;
                    return if over {
                        Admit::Over { in_flight }
                    } else {
                        Admit::Yes { in_flight }
                    };
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// Gives a permit back. Atomics only: one `fetch_sub`.
    #[inline]
    pub(crate) fn release(&self) {
        // Release: the holder's work happens-before the next admission.
        let before = self.word.fetch_sub(1, Ordering::Release);
        debug_assert!(before & COUNT > 0, "released a permit never taken");
    }

    /// The generation a call admitted now belongs to: hand it back to
    /// [`record`](Self::record).
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.tally.generation()
    }

    /// Adds a finished call to the window: admitted in `generation` with
    /// `in_flight` in flight, dropped or not, timed by `timing`. The call
    /// whose sample fills the window closes it, and returns the limit
    /// change if the algorithm made one.
    ///
    /// Atomics only, except for the closer, which takes the window lock to
    /// run the algorithm (no other finished call ever waits for it).
    /// `timing` is read once, and not at all for a call left out: one
    /// admitted before the last limit change, or that finds the window
    /// full while its closer is still at work.
    #[inline]
    pub(crate) fn record<T: Timing>(
        &self,
        generation: u64,
        in_flight: u32,
        timing: &T,
        dropped: bool,
    ) -> Option<Change> {
        // A first filter before any write: the generation only grows.
        if generation < self.tally.generation() {
            return None;
        }
        let Some(Seat::Taken { size }) = self.tally.take_seat(generation) else {
            return None;
        };
        let end = timing.end();
        if !self.tally.add(size, timing.rtt(&end), in_flight, dropped) {
            return None;
        }
        self.close(timing.now(&end))
    }

    /// [`record`](Self::record) for a call that started at `start` and
    /// finished at `now`.
    #[cfg(test)]
    pub(crate) fn record_at(
        &self,
        generation: u64,
        start: Nanos,
        in_flight: u32,
        now: Nanos,
        dropped: bool,
    ) -> Option<Change> {
        self.record(generation, in_flight, &(start, now), dropped)
    }

    /// Closes the full window: runs the algorithm on it, publishes the new
    /// limit, and opens the next window. Only the window's last call gets
    /// here, so the lock is contended only by a change by hand or a
    /// snapshot.
    #[cold]
    fn close(&self, now: Nanos) -> Option<Change> {
        let t = self.tally.take();
        let mut w = self.window.lock();
        if std::mem::take(&mut w.stale) {
            // It measured the limit before a change by hand.
            self.tally.open(self.window_size(w.estimate));
            return None;
        }
        let ok = t.calls - t.dropped;
        let (mean, min) = if ok > 0 {
            (t.ok_sum / u64::from(ok), t.ok_min)
        } else {
            (t.drop_sum / u64::from(t.calls), t.drop_min)
        };
        let sample = Sample {
            rtt: Duration::from_nanos(mean),
            min_rtt: Duration::from_nanos(min),
            in_flight: t.max_in_flight,
            dropped: t.dropped > 0,
            calls: t.calls,
            dropped_calls: t.dropped,
            now,
        };
        w.windows += 1;
        if ok > 0 {
            w.last_rtt = Some(sample.rtt);
            w.min_rtt = Some(w.min_rtt.map_or(sample.rtt, |m| m.min(sample.rtt)));
            // Relaxed: a hint for refusals, not ordered with anything.
            self.last_rtt.store(mean.max(1), Ordering::Relaxed);
        }
        let estimate = w.estimate;
        let update = w.algorithm.update(estimate, &sample);
        if update.limit.is_finite() {
            w.estimate = update.limit.clamp(self.min_limit, self.max_limit);
        }
        // The estimate is within [min, max], both u32: the cast is exact
        // after `floor`.
        let new = w.estimate.floor() as u32;
        let old = self.store_limit(new);
        if old != new {
            // Before `open`, whose Release publishes it to the next
            // window's calls.
            self.tally.next_generation();
        }
        self.tally.open(self.window_size(w.estimate));
        (old != new).then_some(Change {
            old,
            new,
            why: update.why,
        })
    }

    /// Sets the limit by hand (clamped to the bounds); the algorithm goes
    /// on from there. The window being filled when the limit changes is
    /// discarded when it closes (it measured the old limit); calls that
    /// started before the change are left out of it at once.
    pub(crate) fn set_limit(&self, limit: u32) -> Option<Change> {
        let mut w = self.window.lock();
        w.estimate = f64::from(limit).clamp(self.min_limit, self.max_limit);
        let new = w.estimate as u32;
        let old = self.store_limit(new);
        if old == new {
            return None;
        }
        self.tally.next_generation();
        w.stale = true;
        Some(Change {
            old,
            new,
            why: "set by hand",
        })
    }

    /// Writes the limit half, keeping the in-flight half; returns the old
    /// limit. Called only under the window lock.
    fn store_limit(&self, limit: u32) -> u32 {
        // Relaxed: the CAS below validates the value.
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            let old = (w >> LIMIT_SHIFT) as u32;
            if old == limit {
                return old;
            }
            let next = (u64::from(limit) << LIMIT_SHIFT) | (w & COUNT);
            // Relaxed: the limit publishes nothing but itself, and sharing
            // the word with the count puts every admission in one order
            // with every limit change.
            match self
                .word
                .compare_exchange_weak(w, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return old,
                Err(actual) => w = actual,
            }
        }
    }

    /// Calls in flight now.
    pub(crate) fn in_flight(&self) -> u32 {
        // Relaxed: a reading for the snapshot.
        (self.word.load(Ordering::Relaxed) & COUNT) as u32
    }

    /// The limit now.
    pub(crate) fn limit(&self) -> u32 {
        // Relaxed: a reading for the snapshot.
        (self.word.load(Ordering::Relaxed) >> LIMIT_SHIFT) as u32
    }

    /// The last window's round trip, if any: a refusal's retry-after hint.
    pub(crate) fn last_rtt_hint(&self) -> Option<Duration> {
        // Relaxed: a hint, see `record`.
        match self.last_rtt.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    /// The round-trip estimates, read under the window lock.
    pub(crate) fn estimates(&self) -> Estimates {
        let w = self.window.lock();
        Estimates {
            last_rtt: w.last_rtt,
            min_rtt: w.min_rtt,
            windows: w.windows,
        }
    }

    /// Calls in the window being filled (for tests).
    #[cfg(test)]
    pub(crate) fn window_calls(&self) -> u32 {
        self.tally.taken()
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;
    use crate::adaptive::algorithm::Update;

    /// Adds one per window, or sets what it is told.
    struct Step;

    impl LimitAlgorithm for Step {
        fn name(&self) -> &'static str {
            "step"
        }
        fn update(&mut self, limit: f64, sample: &Sample) -> Update {
            if sample.dropped {
                Update::new(limit - 1.0, "drop")
            } else {
                Update::new(limit + 1.0, "up")
            }
        }
    }

    fn limiter(initial: u32, min_window: u32, shadow: bool) -> Limiter {
        Limiter::new(Box::new(Step), initial, 1, 5, min_window, shadow)
    }

    #[test]
    fn admits_up_to_the_limit_and_no_further() {
        let l = limiter(2, 1, false);
        assert_eq!(l.try_acquire(), Admit::Yes { in_flight: 1 });
        assert_eq!(l.try_acquire(), Admit::Yes { in_flight: 2 });
        assert_eq!(l.try_acquire(), Admit::No);
        l.release();
        assert_eq!(l.try_acquire(), Admit::Yes { in_flight: 2 });
    }

    #[test]
    fn shadow_mode_admits_over_the_limit_and_says_so() {
        let l = limiter(1, 1, true);
        assert_eq!(l.try_acquire(), Admit::Yes { in_flight: 1 });
        assert_eq!(l.try_acquire(), Admit::Over { in_flight: 2 });
        assert_eq!(l.in_flight(), 2);
    }

    #[test]
    fn a_window_of_one_limits_worth_runs_the_algorithm_within_the_bounds() {
        let l = limiter(4, 1, false);
        for _ in 0..3 {
            assert_eq!(l.record_at(0, 0, 1, 10, false), None);
        }
        let change = l.record_at(0, 0, 1, 10, false).expect("window closed");
        assert_eq!((change.old, change.new, change.why), (4, 5, "up"));
        // At the maximum: no change.
        for _ in 0..5 {
            assert_eq!(l.record_at(1, 10, 1, 20, false), None);
        }
        assert_eq!((l.limit(), l.estimates().windows), (5, 2));
    }

    #[test]
    fn a_window_is_at_least_min_window_calls() {
        let l = limiter(1, 3, false);
        assert_eq!(l.record_at(0, 0, 1, 10, false), None);
        assert_eq!(l.record_at(0, 0, 1, 10, false), None);
        assert!(l.record_at(0, 0, 1, 10, false).is_some());
    }

    #[test]
    fn calls_started_before_a_limit_change_are_left_out() {
        let l = limiter(1, 1, false);
        assert_eq!(l.generation(), 0);
        l.record_at(0, 0, 1, 10, false).expect("changed at 10");
        assert_eq!(l.generation(), 1);
        assert_eq!(l.record_at(0, 5, 1, 15, true), None);
        assert_eq!(l.window_calls(), 0);
        assert_eq!(l.record_at(1, 10, 1, 15, true), None);
        assert_eq!(l.record_at(1, 10, 1, 15, true).map(|c| c.new), Some(1));
    }

    #[test]
    fn a_window_of_drops_reports_their_round_trip_and_keeps_the_estimates() {
        let l = limiter(1, 1, false);
        l.record_at(0, 0, 1, 7, true);
        let e = l.estimates();
        assert_eq!((e.last_rtt, e.windows), (None, 1));
        l.record_at(0, 7, 1, 17, false);
        assert_eq!(l.estimates().last_rtt, Some(Duration::from_nanos(10)));
        assert_eq!(l.last_rtt_hint(), Some(Duration::from_nanos(10)));
    }

    #[test]
    fn lowering_the_limit_keeps_the_calls_in_flight_and_shuts_admission() {
        let l = limiter(3, 1, false);
        for _ in 0..3 {
            assert!(matches!(l.try_acquire(), Admit::Yes { .. }));
        }
        l.set_limit(1).expect("changed");
        assert_eq!((l.in_flight(), l.limit()), (3, 1));
        l.release();
        l.release();
        assert_eq!(l.try_acquire(), Admit::No);
        l.release();
        assert_eq!(l.try_acquire(), Admit::Yes { in_flight: 1 });
    }
}

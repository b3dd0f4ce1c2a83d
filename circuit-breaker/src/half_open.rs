//! Half-open probe slots and their outcomes, in one atomic word.
//!
//! # Implementation notes
//!
//! The word is `tag:16 | issued:12 | done:12 | failures:12 | slow:12`.
//! `tag` is the low 16 bits of the generation of the half-open stay the
//! counters belong to; every update is a compare-and-swap that checks it,
//! so a probe admitted in an earlier stay can neither take nor give back a
//! slot of a later one. `issued` counts slots taken (in flight or done): a
//! probe is admitted only while `issued < permits`, which is what keeps
//! half-open from admitting more than its permits under any race. A probe
//! that ends without an outcome (cancelled, or classified "ignore") gives
//! its slot back by decrementing `issued`; one that records an outcome
//! bumps `done` and keeps its slot, so exactly `permits` outcomes decide.

use crate::sync::{AtomicU64, Ordering};
use crate::window::Sample;

const TAG_SHIFT: u32 = 48;
const ISSUED_SHIFT: u32 = 36;
const DONE_SHIFT: u32 = 24;
const FAIL_SHIFT: u32 = 12;
const FIELD: u64 = 0xFFF;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ProbeCounts {
    pub(crate) issued: u64,
    pub(crate) done: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

fn unpack(w: u64) -> (u64, ProbeCounts) {
    (
        w >> TAG_SHIFT,
        ProbeCounts {
            issued: (w >> ISSUED_SHIFT) & FIELD,
            done: (w >> DONE_SHIFT) & FIELD,
            failures: (w >> FAIL_SHIFT) & FIELD,
            slow: w & FIELD,
        },
    )
}

fn pack(tag: u64, c: ProbeCounts) -> u64 {
    (tag << TAG_SHIFT)
        | (c.issued << ISSUED_SHIFT)
        | (c.done << DONE_SHIFT)
        | (c.failures << FAIL_SHIFT)
        | c.slow
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    Granted,
    Full,
    /// The counters belong to another stay: reload the state word.
    Stale,
}

#[derive(Debug, Default)]
pub(crate) struct Probes {
    word: AtomicU64,
}

impl Probes {
    /// Starts a new half-open stay. Called under the transition lock,
    /// before the state word that publishes the stay is stored (Release).
    pub(crate) fn reset(&self, tag: u64) {
        // Relaxed: published by the Release store of the state word.
        self.word
            .store(pack(tag, ProbeCounts::default()), Ordering::Relaxed);
    }

    /// Applies `f` to the counters of stay `tag`; None if the word belongs
    /// to another stay or `f` declines.
    fn update(
        &self,
        tag: u64,
        f: impl Fn(ProbeCounts) -> Option<ProbeCounts>,
    ) -> Result<ProbeCounts, Admit> {
        // Acquire/AcqRel: the word is the slot accounting itself; making
        // every access acquire-release keeps successive owners of a slot
        // ordered, which the loom models check.
        let mut cur = self.word.load(Ordering::Acquire);
        loop {
            let (t, counts) = unpack(cur);
            if t != tag {
                return Err(Admit::Stale);
            }
            let Some(next) = f(counts) else {
                return Err(Admit::Full);
            };
            match self.word.compare_exchange_weak(
                cur,
                pack(tag, next),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(next),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Takes a probe slot if one of `permits` is free.
    pub(crate) fn try_acquire(&self, tag: u64, permits: u64) -> Admit {
        match self.update(tag, |c| {
            (c.issued < permits).then_some(ProbeCounts {
                issued: c.issued + 1,
                ..c
            })
        }) {
            Ok(_) => Admit::Granted,
            Err(e) => e,
        }
    }

    /// Gives a slot back without an outcome.
    pub(crate) fn release(&self, tag: u64) {
        let _ = self.update(tag, |c| {
            Some(ProbeCounts {
                issued: c.issued.saturating_sub(1),
                ..c
            })
        });
    }

    /// Records a probe's outcome; returns the counts after it, or None if
    /// the stay is over.
    pub(crate) fn finish(&self, tag: u64, s: Sample) -> Option<ProbeCounts> {
        self.update(tag, |c| {
            Some(ProbeCounts {
                done: (c.done + 1).min(FIELD),
                failures: (c.failures + u64::from(s.failure)).min(FIELD),
                slow: (c.slow + u64::from(s.slow)).min(FIELD),
                ..c
            })
        })
        .ok()
    }

    pub(crate) fn counts(&self) -> ProbeCounts {
        // Acquire: see `update`.
        unpack(self.word.load(Ordering::Acquire)).1
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;
    use crate::window::samples::FAIL;

    #[test]
    fn admits_exactly_permits_and_release_frees_a_slot() {
        let p = Probes::default();
        p.reset(7);
        assert_eq!(p.try_acquire(7, 2), Admit::Granted);
        assert_eq!(p.try_acquire(7, 2), Admit::Granted);
        assert_eq!(p.try_acquire(7, 2), Admit::Full);
        p.release(7);
        assert_eq!(p.try_acquire(7, 2), Admit::Granted);
    }

    #[test]
    fn stale_tag_can_neither_take_nor_return_slots() {
        let p = Probes::default();
        p.reset(1);
        assert_eq!(p.try_acquire(1, 1), Admit::Granted);
        p.reset(2);
        assert_eq!(p.try_acquire(1, 1), Admit::Stale);
        p.release(1);
        assert!(p.finish(1, FAIL).is_none());
        assert_eq!(p.counts().issued, 0);
    }

    #[test]
    fn finish_counts_outcomes() {
        let p = Probes::default();
        p.reset(3);
        p.try_acquire(3, 5);
        let c = p.finish(3, FAIL).unwrap();
        assert_eq!((c.issued, c.done, c.failures, c.slow), (1, 1, 1, 0));
    }
}

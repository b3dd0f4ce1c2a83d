//! Gradual recovery: which calls the ramp admits, and how the admitted
//! ones fare.
//!
//! # Implementation notes
//!
//! Admission is deterministic, not random: `admit` packs
//! `tag:16 | credit:48`, where credit is fixed-point calls (`ONE` is one
//! call). Each call adds the ramp's current share to the credit and is
//! admitted if the credit reaches one call, which is then spent. Over any
//! stretch of calls the number admitted is the sum of the shares they saw,
//! to within one call, so the admitted share follows the ramp as it grows
//! (comparing totals since the ramp began would let later calls make up
//! for the early, lower shares, and reach full traffic too soon). Credit
//! stays below two calls, so it never overflows. Outcomes pack
//! `tag:16 | calls:16 | failures:16 | slow:16` and halve their counts
//! before a field would overflow, which keeps the ratios. The tag
//! (low bits of the stay's generation) makes stale callers' updates fail.

use crate::sync::{AtomicU64, Ordering};
use crate::window::{Counts, Sample};

/// One call's worth of admission credit.
const ONE: u64 = 1 << 20;
const HALVE_OUTCOME_AT: u64 = 1 << 15;

#[derive(Debug, Default)]
pub(crate) struct Ramp {
    admit: AtomicU64,
    outcomes: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RampAdmit {
    Admitted,
    Rejected,
    Stale,
}

/// One compare-and-swap loop over a tagged word; `f` sees the untagged bits.
fn update(word: &AtomicU64, tag: u64, f: impl Fn(u64) -> (u64, bool)) -> Option<(u64, bool)> {
    // Acquire/AcqRel: the word is the whole state of the ramp's accounting.
    let mut cur = word.load(Ordering::Acquire);
    loop {
        if cur >> 48 != tag {
            return None;
        }
        let (next, verdict) = f(cur & ((1 << 48) - 1));
        match word.compare_exchange_weak(
            cur,
            (tag << 48) | next,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return Some((next, verdict)),
            Err(actual) => cur = actual,
        }
    }
}

impl Ramp {
    /// Starts a ramp. Called under the transition lock before the state
    /// word is published with Release. The first call is admitted.
    pub(crate) fn reset(&self, tag: u64) {
        // Relaxed: published by the state word's Release store.
        self.admit.store((tag << 48) | (ONE - 1), Ordering::Relaxed);
        self.outcomes.store(tag << 48, Ordering::Relaxed);
    }

    /// Decides one call at the current `share` (a fraction in `(0, 1]`).
    pub(crate) fn try_admit(&self, tag: u64, share: f64) -> RampAdmit {
        // At least one unit, so a tiny share still admits eventually.
        let add = ((share.clamp(0.0, 1.0) * ONE as f64) as u64).max(1);
        let r = update(&self.admit, tag, |credit| {
            let credit = credit + add;
            if credit >= ONE {
                (credit - ONE, true)
            } else {
                (credit, false)
            }
        });
        match r {
            None => RampAdmit::Stale,
            Some((_, true)) => RampAdmit::Admitted,
            Some((_, false)) => RampAdmit::Rejected,
        }
    }

    /// Records an admitted call's outcome; returns the ramp's counts after it.
    pub(crate) fn finish(&self, tag: u64, s: Sample) -> Option<Counts> {
        update(&self.outcomes, tag, |bits| {
            let (mut calls, mut fail, mut slow) =
                (bits >> 32, (bits >> 16) & 0xFFFF, bits & 0xFFFF);
            if calls >= HALVE_OUTCOME_AT {
                calls /= 2;
                fail /= 2;
                slow /= 2;
            }
            calls += 1;
            fail += u64::from(s.failure);
            slow += u64::from(s.slow);
            ((calls << 32) | (fail << 16) | slow, true)
        })
        .map(|(bits, _)| Counts {
            calls: bits >> 32,
            failures: (bits >> 16) & 0xFFFF,
            slow: bits & 0xFFFF,
        })
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    #[test]
    fn admits_the_share_deterministically() {
        let r = Ramp::default();
        r.reset(1);
        let admitted = (0..100)
            .filter(|_| r.try_admit(1, 0.25) == RampAdmit::Admitted)
            .count();
        assert_eq!(admitted, 25);
    }

    #[test]
    fn each_stretch_admits_the_share_it_saw() {
        let r = Ramp::default();
        r.reset(1);
        // 100 calls at 25%, then 100 at 75%: no catching up on the early ones.
        let first = (0..100)
            .filter(|_| r.try_admit(1, 0.25) == RampAdmit::Admitted)
            .count();
        let second = (0..100)
            .filter(|_| r.try_admit(1, 0.75) == RampAdmit::Admitted)
            .count();
        assert_eq!((first, second), (25, 75));
    }

    #[test]
    fn stale_tag_is_refused() {
        let r = Ramp::default();
        r.reset(1);
        assert_eq!(r.try_admit(2, 1.0), RampAdmit::Stale);
        assert!(
            r.finish(
                2,
                Sample {
                    failure: true,
                    slow: false
                }
            )
            .is_none()
        );
    }

    #[test]
    fn outcomes_accumulate() {
        let r = Ramp::default();
        r.reset(4);
        r.finish(
            4,
            Sample {
                failure: true,
                slow: false,
            },
        );
        let c = r
            .finish(
                4,
                Sample {
                    failure: false,
                    slow: true,
                },
            )
            .unwrap();
        assert_eq!(
            c,
            Counts {
                calls: 2,
                failures: 1,
                slow: 1
            }
        );
    }
}

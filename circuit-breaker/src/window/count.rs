//! The count window: the last `size` calls.
//!
//! # Implementation notes
//!
//! `head` counts the calls recorded since the window was built; call
//! number `seq` lives in slot `seq % ring`, where `ring` is `size` rounded
//! up to a power of two (a mask instead of a division on the closed path).
//! Each slot has two bits, failed and slow, kept in one array of words (a
//! word of failure bits, then its word of slow bits, side by side on one
//! cache line). A bit is written only when it changes, and `dirty` counts
//! the bits set: it moves only for the thread whose read-modify-write
//! changed a bit, so once records settle it equals the number of set bits.
//!
//! The window's counts are derived: calls is `min(head - base, size)`,
//! where `base` is `head` at the last reset; failures and slow are the
//! popcounts of the bits of the last `calls` slots (older bits are outside
//! that range and not counted). A reset only moves `base`: it never zeroes
//! bits that a concurrent record may be writing, so no interleaving can
//! make `dirty` or the counts disagree with the bits.
//!
//! The steady state writes nothing. When the window is full and clean
//! (`dirty == 0`), recording a success would clear no bit and evict no
//! failure, and the position of `head` in an all-clear ring cannot be
//! observed, so the record is skipped: loads of lines nobody writes, no
//! shared write, and callers on many cores do not contend. A success that
//! races with the first failure in a clean window may be skipped as if it
//! had come just before that failure.
//!
//! All orderings are `Relaxed`: the window is statistics. Decisions made
//! from it are taken under the transition lock, against the state word.

use crate::sync::{AtomicU64, CachePadded, Ordering};
use crate::window::{Counts, Sample};

#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u64,
    /// `ring - 1`, where `ring` is `size` rounded up to a power of two.
    mask: u64,
    /// Whether slow bits are kept (slow-call tracking is on).
    track_slow: bool,
    /// `head` at the last reset; written only by resets.
    base: AtomicU64,
    /// Calls recorded; bumped by every record that is not skipped, so it
    /// sits on a line of its own.
    head: CachePadded<AtomicU64>,
    /// How many bits are set; written only when a bit changes.
    dirty: CachePadded<AtomicU64>,
    /// For each 64 slots, a word of failure bits then a word of slow bits.
    /// Read on every record, written only when a bit changes.
    bits: CachePadded<Box<[AtomicU64]>>,
}

/// What a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// The call's number since the last reset.
    Seq(u64),
    /// A success in a full, clean window: nothing to change.
    Skipped,
}

impl CountWindow {
    pub(crate) fn new(size: u32, track_slow: bool) -> Self {
        let size = u64::from(size);
        let ring = size.next_power_of_two().max(64);
        Self {
            size,
            mask: ring - 1,
            track_slow,
            base: AtomicU64::new(0),
            head: CachePadded(AtomicU64::new(0)),
            dirty: CachePadded(AtomicU64::new(0)),
            bits: CachePadded((0..2 * ring / 64).map(|_| AtomicU64::new(0)).collect()),
        }
    }

    /// Records one call.
    #[inline]
    pub(crate) fn record(&self, sample: Sample) -> Recorded {
        // Relaxed throughout: see the module notes.
        let base = self.base.load(Ordering::Relaxed);
        if !sample.failure
            && !sample.slow
            && self.dirty.load(Ordering::Relaxed) == 0
            && self.head.load(Ordering::Relaxed).wrapping_sub(base) >= self.size
        {
            return Recorded::Skipped;
        }
        let seq = self.head.fetch_add(1, Ordering::Relaxed);
        let slot = seq & self.mask;
        let pair = (slot / 64 * 2) as usize;
        let bit = 1u64 << (slot % 64);
        if let Some(word) = self.bits.get(pair) {
            self.put(word, bit, sample.failure);
        }
        if self.track_slow {
            if let Some(word) = self.bits.get(pair + 1) {
                self.put(word, bit, sample.slow);
            }
        }
        Recorded::Seq(seq.saturating_sub(base))
    }

    /// Sets or clears one bit, writing only if it changes.
    #[inline]
    fn put(&self, word: &AtomicU64, bit: u64, on: bool) {
        // Relaxed: see the module notes; the bit is the only data.
        let set = word.load(Ordering::Relaxed) & bit != 0;
        if on != set {
            self.flip(word, bit, on);
        }
    }

    #[cold]
    fn flip(&self, word: &AtomicU64, bit: u64, on: bool) {
        // Relaxed: see the module notes. `dirty` moves only for the thread
        // whose read-modify-write actually changed the bit.
        if on {
            if word.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
                self.dirty.fetch_add(1, Ordering::Relaxed);
            }
        } else if word.fetch_and(!bit, Ordering::Relaxed) & bit != 0 {
            self.dirty.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        // Relaxed: a snapshot of statistics.
        let head = self.head.load(Ordering::Relaxed);
        let base = self.base.load(Ordering::Relaxed).min(head);
        let calls = (head - base).min(self.size);
        let (mut failures, mut slow) = (0, 0);
        // The last `calls` slots, walked a word at a time.
        let mut seq = head - calls;
        while seq < head {
            let slot = seq & self.mask;
            let offset = slot % 64;
            let take = (64 - offset).min(head - seq);
            let keep = if take == 64 {
                u64::MAX
            } else {
                ((1u64 << take) - 1) << offset
            };
            let pair = (slot / 64 * 2) as usize;
            // Relaxed: a snapshot of statistics.
            failures += u64::from((self.bits[pair].load(Ordering::Relaxed) & keep).count_ones());
            slow += u64::from((self.bits[pair + 1].load(Ordering::Relaxed) & keep).count_ones());
            seq += take;
        }
        Counts {
            calls,
            failures,
            slow,
        }
    }

    /// Empties the window by moving its start to the current call.
    pub(crate) fn reset(&self) {
        // Relaxed: resets happen under the transition lock and are published
        // by its Release store of the state word.
        let head = self.head.load(Ordering::Relaxed);
        self.base.store(head, Ordering::Relaxed);
    }

    /// How many bits are set, by the counter and by counting; equal once
    /// records have settled.
    #[cfg(any(test, ballast_loom))]
    pub(crate) fn dirty_check(&self) -> (u64, u64) {
        let counted = self
            .bits
            .iter()
            // Relaxed: read after the recorders were joined.
            .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
            .sum();
        (self.dirty.load(Ordering::Relaxed), counted)
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;
    use crate::window::samples::{FAIL, OK, SLOW};

    fn window(size: u32) -> CountWindow {
        CountWindow::new(size, true)
    }

    #[test]
    fn holds_only_the_last_size_calls() {
        let w = window(4);
        for s in [FAIL, FAIL, OK, SLOW] {
            w.record(s);
        }
        assert_eq!(
            w.counts(),
            Counts {
                calls: 4,
                failures: 2,
                slow: 1
            }
        );
        // Two successes push the two failures out.
        w.record(OK);
        w.record(OK);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 4,
                failures: 0,
                slow: 1
            }
        );
        w.record(OK);
        w.record(OK);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 4,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn counts_calls_up_to_size_before_full() {
        let w = window(100);
        for _ in 0..7 {
            w.record(FAIL);
        }
        assert_eq!(
            w.counts(),
            Counts {
                calls: 7,
                failures: 7,
                slow: 0
            }
        );
    }

    #[test]
    fn spans_several_words_and_wraps_the_ring() {
        for size in [1, 3, 63, 64, 65, 100, 130, 1000] {
            let w = window(size);
            let total = 3 * u64::from(size) + 17;
            for i in 0..total {
                w.record(if i % 3 == 0 { FAIL } else { OK });
            }
            let start = total - u64::from(size);
            let expected = (start..total).filter(|i| i % 3 == 0).count() as u64;
            assert_eq!(w.counts().failures, expected, "size {size}");
            assert_eq!(w.counts().calls, u64::from(size));
        }
    }

    #[test]
    fn a_full_clean_window_skips_successes_and_still_ages_failures_out() {
        let w = window(4);
        for _ in 0..4 {
            assert!(matches!(w.record(OK), Recorded::Seq(_)));
        }
        assert_eq!(w.record(OK), Recorded::Skipped);
        w.record(FAIL);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 4,
                failures: 1,
                slow: 0
            }
        );
        // With a failure inside, successes are recorded again, and push it out.
        for _ in 0..4 {
            assert!(matches!(w.record(OK), Recorded::Seq(_)));
        }
        assert_eq!(
            w.counts(),
            Counts {
                calls: 4,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(w.dirty_check(), (1, 1), "the stale bit outside the window");
        for _ in 0..64 {
            w.record(OK);
        }
        assert_eq!(w.dirty_check(), (0, 0));
        assert_eq!(w.record(OK), Recorded::Skipped);
    }

    #[test]
    fn slow_bits_are_not_kept_when_slow_calls_are_not_tracked() {
        let w = CountWindow::new(8, false);
        w.record(SLOW);
        assert_eq!(w.counts().slow, 0);
    }

    #[test]
    fn reset_empties_everything() {
        let w = window(8);
        w.record(FAIL);
        w.record(SLOW);
        w.reset();
        assert_eq!(w.counts(), Counts::default());
        w.record(OK);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        let (dirty, counted) = w.dirty_check();
        assert_eq!(dirty, counted);
    }
}

//! The count window: the last `size` calls.
//!
//! # Implementation notes
//!
//! `head` counts the calls recorded since the last reset; call number `seq`
//! lives in slot `seq % ring`, where `ring` is `size` rounded up to a power
//! of two (a mask instead of a division on the closed path). Each slot has
//! two bits, failed and slow, kept in one array of words (a word of
//! failure bits, then its word of slow bits, side by side on one cache
//! line). Recording a call is one `fetch_add` on `head` plus, for a
//! success that lands on a slot whose bits are clear (the steady state),
//! one load; a bit is written only when it changes.
//!
//! The window's counts are derived: calls is `min(head, size)`; failures
//! and slow are the popcounts of the bits of the last `calls` slots
//! (slots older than `size` but not yet overwritten are outside that range
//! and not counted). Deriving them means no interleaving can make the
//! counts disagree with the bits, and a record that races with a reset
//! leaves at most one stale bit, which ages out within `ring` calls.
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
    /// Calls recorded since the last reset; every record bumps it, so it
    /// sits on a line of its own.
    head: CachePadded<AtomicU64>,
    /// For each 64 slots, a word of failure bits then a word of slow bits.
    /// Read on every record, written only when a bit changes.
    bits: CachePadded<Box<[AtomicU64]>>,
}

/// Sets or clears one bit, writing only if it changes.
#[inline]
fn put(word: &AtomicU64, bit: u64, on: bool) {
    // Relaxed: see the module notes; the bit is the only data.
    let set = word.load(Ordering::Relaxed) & bit != 0;
    if on != set {
        put_slow(word, bit, on);
    }
}

#[cold]
fn put_slow(word: &AtomicU64, bit: u64, on: bool) {
    // Relaxed: see the module notes.
    if on {
        word.fetch_or(bit, Ordering::Relaxed);
    } else {
        word.fetch_and(!bit, Ordering::Relaxed);
    }
}

impl CountWindow {
    pub(crate) fn new(size: u32, track_slow: bool) -> Self {
        let size = u64::from(size);
        let ring = size.next_power_of_two().max(64);
        Self {
            size,
            mask: ring - 1,
            track_slow,
            head: CachePadded(AtomicU64::new(0)),
            bits: CachePadded((0..2 * ring / 64).map(|_| AtomicU64::new(0)).collect()),
        }
    }

    /// Records one call and returns its sequence number since the reset.
    #[inline]
    pub(crate) fn record(&self, sample: Sample) -> u64 {
        // Relaxed: the sequence number only picks a slot; see module notes.
        let seq = self.head.fetch_add(1, Ordering::Relaxed);
        let slot = seq & self.mask;
        let pair = (slot / 64 * 2) as usize;
        let bit = 1u64 << (slot % 64);
        if let Some(word) = self.bits.get(pair) {
            put(word, bit, sample.failure);
        }
        if self.track_slow {
            if let Some(word) = self.bits.get(pair + 1) {
                put(word, bit, sample.slow);
            }
        }
        seq
    }

    pub(crate) fn counts(&self) -> Counts {
        // Relaxed: a snapshot of statistics.
        let head = self.head.load(Ordering::Relaxed);
        let calls = head.min(self.size);
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

    pub(crate) fn reset(&self) {
        // Relaxed: resets happen under the transition lock and are published
        // by its Release store of the state word.
        self.head.store(0, Ordering::Relaxed);
        for w in self.bits.iter() {
            w.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    const OK: Sample = Sample {
        failure: false,
        slow: false,
    };
    const FAIL: Sample = Sample {
        failure: true,
        slow: false,
    };
    const SLOW: Sample = Sample {
        failure: false,
        slow: true,
    };

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
    }
}

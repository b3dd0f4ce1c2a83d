//! The count window: the last `size` calls.
//!
//! # Implementation notes
//!
//! `head` counts the calls recorded since the last reset; call number `seq`
//! lives in slot `seq % size`. Failures and slow calls are two bitsets with
//! a bit per slot. Recording a call is one `fetch_add` on `head` plus, for
//! a success that lands on a slot whose bits are clear (the steady state),
//! only loads; a bit is written only when it changes. The window's counts
//! are derived: calls is `min(head, size)`, failures and slow are the
//! popcounts of the bitsets. Deriving them means no interleaving can make
//! the counts disagree with the bits, and a record that races with a reset
//! leaves at most one stale bit, which ages out within `size` calls.
//!
//! All orderings are `Relaxed`: the window is statistics. Decisions made
//! from it are taken under the transition lock, against the state word.

use crate::sync::{AtomicU64, CachePadded, Ordering};
use crate::window::{Counts, Sample};

#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u64,
    /// Calls recorded since the last reset; every record bumps it, so it
    /// sits on a line of its own.
    head: CachePadded<AtomicU64>,
    /// Bit `slot` set when that slot's call failed. Read on every record,
    /// written only when a bit changes.
    failures: CachePadded<Box<[AtomicU64]>>,
    /// Bit `slot` set when that slot's call was slow.
    slow: CachePadded<Box<[AtomicU64]>>,
}

fn bitset(size: u64) -> Box<[AtomicU64]> {
    (0..size.div_ceil(64)).map(|_| AtomicU64::new(0)).collect()
}

/// Sets or clears one bit, writing only if it changes.
fn put(words: &[AtomicU64], slot: u64, on: bool) {
    let word = &words[(slot / 64) as usize];
    let bit = 1u64 << (slot % 64);
    // Relaxed: see the module notes; the bit is the only data.
    let set = word.load(Ordering::Relaxed) & bit != 0;
    if on && !set {
        word.fetch_or(bit, Ordering::Relaxed);
    } else if !on && set {
        word.fetch_and(!bit, Ordering::Relaxed);
    }
}

fn popcount(words: &[AtomicU64]) -> u64 {
    words
        .iter()
        // Relaxed: a snapshot of statistics.
        .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
        .sum()
}

impl CountWindow {
    pub(crate) fn new(size: u32) -> Self {
        let size = u64::from(size);
        Self {
            size,
            head: CachePadded(AtomicU64::new(0)),
            failures: CachePadded(bitset(size)),
            slow: CachePadded(bitset(size)),
        }
    }

    /// Records one call and returns its sequence number since the reset.
    pub(crate) fn record(&self, sample: Sample) -> u64 {
        // Relaxed: the sequence number only picks a slot; see module notes.
        let seq = self.head.fetch_add(1, Ordering::Relaxed);
        let slot = if seq < self.size {
            seq
        } else {
            seq % self.size
        };
        put(&self.failures, slot, sample.failure);
        put(&self.slow, slot, sample.slow);
        seq
    }

    pub(crate) fn counts(&self) -> Counts {
        Counts {
            // Relaxed: a snapshot of statistics.
            calls: self.head.load(Ordering::Relaxed).min(self.size),
            failures: popcount(&self.failures),
            slow: popcount(&self.slow),
        }
    }

    pub(crate) fn reset(&self) {
        // Relaxed: resets happen under the transition lock and are published
        // by its Release store of the state word.
        self.head.store(0, Ordering::Relaxed);
        for w in self.failures.iter().chain(self.slow.iter()) {
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

    #[test]
    fn holds_only_the_last_size_calls() {
        let w = CountWindow::new(4);
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
        let w = CountWindow::new(100);
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
    fn spans_several_bitset_words() {
        let w = CountWindow::new(130);
        for i in 0..300 {
            w.record(if i % 3 == 0 { FAIL } else { OK });
        }
        // The last 130 calls are numbers 170..300; multiples of 3 among them.
        let expected = (170..300).filter(|i| i % 3 == 0).count() as u64;
        assert_eq!(w.counts().failures, expected);
        assert_eq!(w.counts().calls, 130);
    }

    #[test]
    fn reset_empties_everything() {
        let w = CountWindow::new(8);
        w.record(FAIL);
        w.record(SLOW);
        w.reset();
        assert_eq!(w.counts(), Counts::default());
    }
}

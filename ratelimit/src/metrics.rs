//! [`Metrics`]: what a limiter has decided so far.

use crate::sync::CachePadded;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A snapshot of a limiter's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Requests admitted by the policy (at once or after a wait).
    pub admitted: u64,
    /// Requests the policy refused (in shadow mode: would have refused).
    pub rejected: u64,
    /// Requests waiting for their cells right now.
    pub waiting: u64,
    /// Of `rejected`, those let through anyway because of shadow mode.
    pub shadowed: u64,
}

/// The live counters. Each sits on its own cache line: the admitted count
/// is bumped on every call and must not bounce the others' lines; it is
/// also striped over threads, so two threads admitting at once through
/// one limiter (or through different keys of one keyed limiter) do not
/// bounce one line between their cores on every call.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) admitted: Striped,
    pub(crate) rejected: CachePadded<AtomicU64>,
    pub(crate) waiting: CachePadded<AtomicU64>,
    pub(crate) shadowed: CachePadded<AtomicU64>,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Metrics {
        // Relaxed: independent statistics; a snapshot need not be atomic
        // across counters.
        Metrics {
            admitted: self.admitted.sum(),
            rejected: self.rejected.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            shadowed: self.shadowed.load(Ordering::Relaxed),
        }
    }

    #[inline]
    pub(crate) fn bump(counter: &AtomicU64) {
        // Relaxed: a statistic; nothing is published through it.
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Stripes of a counter that many threads bump (a power of two).
const STRIPES: usize = 8;

/// A counter striped over threads: each thread bumps the stripe of its own
/// (threads are dealt stripes in turn), and a read sums them.
#[derive(Debug, Default)]
pub(crate) struct Striped([CachePadded<AtomicU64>; STRIPES]);

/// Hands each thread its stripe, in turn.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

impl Striped {
    #[inline]
    pub(crate) fn bump(&self) {
        let stripe = STRIPE.with(|s| {
            let mine = s.get();
            if mine != usize::MAX {
                return mine;
            }
            // Relaxed: only spreads threads over stripes; any value works.
            let mine = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
            s.set(mine);
            mine
        });
        // Relaxed: a statistic; nothing is published through it.
        self.0[stripe].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sum(&self) -> u64 {
        // Relaxed: a statistic; a read racing bumps may miss the latest.
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

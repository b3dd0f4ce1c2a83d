//! [`Metrics`]: what a limiter has decided so far.

use crate::sync::{AtomicU64, CachePadded, Ordering, StripedCounter};

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
/// also striped over threads (a [`StripedCounter`]), so two threads admitting
/// at once through one limiter (or through different keys of one keyed
/// limiter) do not bounce one line between their cores, and bump it
/// without a locked instruction.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) admitted: StripedCounter,
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

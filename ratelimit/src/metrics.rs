//! [`Metrics`]: what a limiter has decided so far.

use crate::sync::{AtomicU64, CachePadded, Ordering};
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

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
/// also striped over threads (see [`Striped`]), so two threads admitting
/// at once through one limiter (or through different keys of one keyed
/// limiter) do not bounce one line between their cores, and bump it
/// without a locked instruction.
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

/// Stripes of a counter that one thread each may own.
const OWNED: usize = 16;

/// A counter bumped on every admission, by many threads, without a locked
/// instruction: each thread owns a stripe of its own (up to [`OWNED`]
/// threads at once) and bumps it with a plain load and store, since no
/// other thread writes it; threads beyond that share one stripe with atomic
/// adds. A read sums the stripes. (A locked add is a full fence on x86: it
/// waits for the check's loads and stores to drain, which costs more than
/// the add itself.)
///
/// A stripe goes back to a pool when its thread ends; the next thread to
/// take it goes on from its value, so nothing counted is lost. The pool's
/// mutex orders the old owner's last store before the new owner's first
/// load.
#[derive(Debug, Default)]
pub(crate) struct Striped {
    owned: [CachePadded<AtomicU64>; OWNED],
    shared: CachePadded<AtomicU64>,
}

/// Owned stripes whose threads have ended.
static FREE_STRIPES: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// The next stripe never handed out (past [`OWNED`]: none left).
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

/// This thread's stripe, given back when the thread ends.
struct Stripe(usize);

impl Stripe {
    fn take() -> Self {
        let free = FREE_STRIPES.lock().map(|mut f| f.pop()).ok().flatten();
        // Relaxed: hands out distinct numbers; the stripes themselves are
        // ordered by the pool's mutex (see `Striped`).
        Stripe(free.unwrap_or_else(|| NEXT_STRIPE.fetch_add(1, Ordering::Relaxed)))
    }
}

impl Drop for Stripe {
    fn drop(&mut self) {
        if self.0 < OWNED {
            if let Ok(mut free) = FREE_STRIPES.lock() {
                free.push(self.0);
            }
        }
    }
}

crate::sync::thread_local! {
    static STRIPE: Stripe = Stripe::take();
}

impl Striped {
    #[inline]
    pub(crate) fn bump(&self) {
        match STRIPE.try_with(|s| s.0) {
            Ok(mine) if mine < OWNED => {
                let stripe = &self.owned[mine];
                // Relaxed load and store, not a read-modify-write: only
                // this thread writes its stripe (see `Striped`).
                stripe.store(stripe.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            _ => {
                // Relaxed: a statistic; nothing is published through it.
                self.shared.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        // Relaxed: a statistic; a read racing bumps may miss the latest.
        let owned: u64 = self.owned.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        owned + self.shared.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bump_counts_with_more_threads_than_stripes() {
        let counter = Striped::default();
        // Three waves, so stripes of ended threads are reused; each wave
        // has more threads than there are stripes to own.
        for _ in 0..3 {
            std::thread::scope(|s| {
                for _ in 0..OWNED + 8 {
                    s.spawn(|| {
                        for _ in 0..1000 {
                            counter.bump();
                        }
                    });
                }
            });
        }
        assert_eq!(counter.sum(), 3 * (OWNED as u64 + 8) * 1000);
    }
}

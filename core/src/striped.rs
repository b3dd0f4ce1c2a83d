//! [`StripedCounter`]: a count bumped on every call by many threads,
//! without a locked instruction.

use crate::sync::CachePadded;
#[cfg(ballast_loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(ballast_loom))]
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Stripes of a counter that one thread each may own.
const OWNED: usize = 16;

/// A count that only grows, added to on a hot path by many threads: the
/// rate limiter's admissions, the retry budget's deposits.
///
/// Each thread owns a stripe of its own (up to 16 threads at once) and
/// adds to it with a plain load and store, since no other thread writes
/// it: no locked instruction, which on x86 is a full fence that waits for
/// the call's earlier stores to drain, and threads on different cores
/// write different cache lines. Threads beyond that share one stripe with
/// atomic adds. A read sums the stripes, so it can miss adds racing it,
/// never count one twice.
///
/// A stripe goes back to a pool when its thread ends; the next thread to
/// take it goes on from its value (in every counter: stripe `i` of every
/// counter belongs to the same thread), so nothing counted is lost. The
/// pool's mutex orders the old owner's last store before the new owner's
/// first load.
///
/// About 2 KiB (17 stripes of 128 bytes): one per policy, never one per
/// key or per call.
#[derive(Debug, Default)]
pub struct StripedCounter {
    owned: [CachePadded<AtomicU64>; OWNED],
    shared: CachePadded<AtomicU64>,
}

/// Owned stripes whose threads have ended.
#[cfg(not(ballast_loom))]
static FREE_STRIPES: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());
/// The next stripe never handed out (past [`OWNED`]: none left).
#[cfg(not(ballast_loom))]
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

// Under loom, stripes are numbered afresh for each execution and never
// handed on: the pool's std mutex, which orders a stripe's handover from
// an ended thread to a new one, is invisible to loom (the unit test
// `every_add_counts_with_more_threads_than_owned_stripes` covers the
// handover on real threads).
#[cfg(ballast_loom)]
loom::lazy_static! {
    static ref NEXT_STRIPE: loom::sync::atomic::AtomicUsize =
        loom::sync::atomic::AtomicUsize::new(0);
}

/// This thread's stripe, given back when the thread ends.
struct Stripe(usize);

impl Stripe {
    fn take() -> Self {
        #[cfg(not(ballast_loom))]
        let free = FREE_STRIPES.lock().map(|mut f| f.pop()).ok().flatten();
        #[cfg(ballast_loom)]
        let free = None;
        // Relaxed: hands out distinct numbers; the stripes themselves are
        // ordered by the pool's mutex (see `StripedCounter`).
        Stripe(free.unwrap_or_else(|| NEXT_STRIPE.fetch_add(1, Ordering::Relaxed)))
    }
}

#[cfg(not(ballast_loom))]
impl Drop for Stripe {
    fn drop(&mut self) {
        if self.0 < OWNED
            && let Ok(mut free) = FREE_STRIPES.lock()
        {
            free.push(self.0);
        }
    }
}

#[cfg(ballast_loom)]
loom::thread_local! {
    static STRIPE: Stripe = Stripe::take();
}
#[cfg(not(ballast_loom))]
std::thread_local! {
    static STRIPE: Stripe = Stripe::take();
}

impl StripedCounter {
    /// One more, on the calling thread's stripe; returns that stripe's
    /// count before it (the retry budget looks at the clock every few
    /// dozen of its own adds).
    #[inline]
    pub fn add(&self) -> u64 {
        match STRIPE.try_with(|s| s.0) {
            Ok(mine) if mine < OWNED => {
                let stripe = &self.owned[mine];
                // Relaxed load and store, not a read-modify-write: only
                // this thread writes its stripe (see `StripedCounter`).
                // Readers want a count, not an order with other memory.
                let before = stripe.load(Ordering::Relaxed);
                stripe.store(before + 1, Ordering::Relaxed);
                before
            }
            // Relaxed: a count, as above; the shared stripe takes atomic
            // adds from many threads.
            _ => self.shared.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Every add so far (adds racing the read may be missed: they show in
    /// a later one).
    pub fn sum(&self) -> u64 {
        // Relaxed: each stripe only grows; a read racing adds may miss the
        // latest, which a caller ordering reads by a mutex of its own (the
        // retry budget's) sees in its next read.
        let owned = self.owned.iter().map(|c| c.load(Ordering::Relaxed));
        owned.fold(self.shared.load(Ordering::Relaxed), u64::saturating_add)
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_add_counts_with_more_threads_than_owned_stripes() {
        let counter = StripedCounter::default();
        // Three waves, so stripes of ended threads are taken again (going
        // on from their counts); each wave has more threads than there
        // are stripes to own, so some share the atomic one.
        for _ in 0..3 {
            std::thread::scope(|s| {
                for _ in 0..OWNED + 8 {
                    s.spawn(|| {
                        for _ in 0..1000 {
                            counter.add();
                        }
                    });
                }
            });
        }
        assert_eq!(counter.sum(), 3 * (OWNED as u64 + 8) * 1000);
    }

    #[test]
    fn add_returns_the_stripe_count_before_it() {
        let counter = StripedCounter::default();
        // One thread: its own stripe, or the shared one if every owned
        // stripe is taken by the other tests' threads; either way, the
        // only writer here.
        std::thread::scope(|s| {
            s.spawn(|| {
                let first = counter.add();
                assert_eq!(counter.add(), first + 1);
            });
        });
        assert_eq!(counter.sum(), 2);
    }
}

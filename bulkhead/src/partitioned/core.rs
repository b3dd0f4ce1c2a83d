//! The partition pools: the partitioned bulkhead's policy, with no clock,
//! no tokio and no tower.
//!
//! # Implementation notes
//!
//! Each partition owns a pool of `share` slots, one `AtomicU64` counting
//! the slots taken (`used`), by its own calls or by calls of other
//! partitions that borrowed them. The shares add up to the limit, so the
//! calls in flight, the sum of every `used`, never exceed it.
//!
//! - A call of partition `i` first takes a slot of its own pool: one CAS
//!   from `n` to `n + 1`, only while `n < share_i`.
//! - Failing that, it borrows a slot of another pool `j` (tried in turn,
//!   from `i + 1` on, so borrowers spread): one CAS, only while
//!   `used_j < share_j - kept`, so borrowing never takes the last `kept`
//!   free slots of a pool: they wait for its owner.
//! - A finished call gives its slot back to the pool it came from: one
//!   `fetch_sub`.
//!
//! Every change is a single CAS or `fetch_sub` on one pool's word, and a
//! pool's bound is checked by the CAS that takes the slot, so no
//! interleaving can overfill a pool, and no slot is lost or duplicated
//! (each taken slot is given back exactly once, by its permit's drop).
//!
//! What an owner is guaranteed: slots are lent only while
//! `used < share - kept`, so at most `share - kept` of a pool's slots are
//! ever lent out; a partition with fewer than `kept` calls of its own in
//! flight always finds a free slot, and in general its call is admitted
//! whenever its pool has a free slot. Lent slots come back to the pool as
//! the borrowing calls finish (calls in flight are never cancelled), and
//! once a pool is down to `kept` free slots no borrower takes them.

use crate::sync::{AtomicU64, CachePadded, Ordering};

/// One partition's pool of guaranteed slots.
#[derive(Debug)]
struct Pool {
    /// Slots taken, by the owner's calls and by borrowers; on a line of
    /// its own so partitions do not slow each other.
    used: CachePadded<AtomicU64>,
    /// The partition's guaranteed share.
    share: u64,
    /// The most slots that may be taken while lending one more:
    /// `share - kept`, saturating.
    lend_below: u64,
}

/// Where an admitted call's slot came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Its own partition's pool.
    Own,
    /// Borrowed from this partition's pool.
    Borrowed(usize),
}

impl Slot {
    /// The pool to give the slot back to, for a call of partition `owner`.
    pub(crate) fn pool(self, owner: usize) -> usize {
        match self {
            Slot::Own => owner,
            Slot::Borrowed(j) => j,
        }
    }
}

/// The pools of every partition.
#[derive(Debug)]
pub(crate) struct Core {
    pools: Box<[Pool]>,
}

impl Core {
    /// Pools of the given shares, each keeping `kept` free slots from
    /// borrowers.
    pub(crate) fn new(shares: &[u32], kept: u32) -> Self {
        let pools = shares
            .iter()
            .map(|&s| Pool {
                used: CachePadded(AtomicU64::new(0)),
                share: u64::from(s),
                lend_below: u64::from(s.saturating_sub(kept)),
            })
            .collect();
        Self { pools }
    }

    /// Takes a slot for a call of partition `i`: its own, else a borrowed
    /// one, else `None` (the call must be refused). Atomics only.
    #[inline]
    pub(crate) fn acquire(&self, i: usize) -> Option<Slot> {
        if take(&self.pools[i], self.pools[i].share) {
            return Some(Slot::Own);
        }
        self.borrow(i)
    }

    #[cold]
    fn borrow(&self, i: usize) -> Option<Slot> {
        let n = self.pools.len();
        (1..n)
            .map(|k| (i + k) % n)
            .find(|&j| take(&self.pools[j], self.pools[j].lend_below))
            .map(Slot::Borrowed)
    }

    /// Gives a slot back to pool `pool`.
    #[inline]
    pub(crate) fn release(&self, pool: usize) {
        // Release: the call's work happens-before the next call that takes
        // this slot (whose CAS is Acquire).
        let prev = self.pools[pool].used.fetch_sub(1, Ordering::Release);
        debug_assert!(prev > 0, "gave back a slot never taken");
    }

    /// Slots of pool `i` taken now, by its owner or borrowers.
    pub(crate) fn used(&self, i: usize) -> u64 {
        // Relaxed: a statistic.
        self.pools[i].used.load(Ordering::Relaxed)
    }

    /// Pool `i`'s guaranteed share.
    pub(crate) fn share(&self, i: usize) -> u64 {
        self.pools[i].share
    }

    /// Slots taken in every pool: the calls in flight that hold one.
    pub(crate) fn total(&self) -> u64 {
        (0..self.pools.len()).map(|i| self.used(i)).sum()
    }
}

/// Takes a slot of `pool` if fewer than `below` are taken.
#[inline]
fn take(pool: &Pool, below: u64) -> bool {
    // Relaxed: the CAS below validates the value.
    let mut n = pool.used.load(Ordering::Relaxed);
    loop {
        if n >= below {
            return false;
        }
        // Acquire: pairs with the Release of the call that gave this slot
        // back, so its work happens-before ours.
        match pool
            .used
            .compare_exchange_weak(n, n + 1, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => return true,
            Err(actual) => n = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_partitions_share_is_lent_except_the_kept_slots() {
        let c = Core::new(&[4, 4], 1);
        let slots: Vec<_> = std::iter::from_fn(|| c.acquire(0)).collect();
        // 4 of its own, then 3 of partition 1's 4.
        assert_eq!(slots.len(), 7);
        assert_eq!(slots[3], Slot::Own);
        assert_eq!(slots[4], Slot::Borrowed(1));
        // Partition 1's kept slot is still there for it, and only it.
        assert_eq!(c.acquire(1), Some(Slot::Own));
        assert_eq!(c.acquire(1), None);
        assert_eq!(c.total(), 8);
    }

    #[test]
    fn lent_slots_come_back_to_the_owner_not_to_other_borrowers() {
        let c = Core::new(&[2, 2], 1);
        assert_eq!(c.acquire(0), Some(Slot::Own));
        assert_eq!(c.acquire(0), Some(Slot::Own));
        assert_eq!(c.acquire(0), Some(Slot::Borrowed(1)));
        assert_eq!(c.acquire(1), Some(Slot::Own), "the kept slot");
        assert_eq!(c.acquire(0), None);
        // The borrower finishes: the slot is its owner's again.
        c.release(1);
        assert_eq!(c.acquire(0), None, "down to the kept slot: not lent");
        assert_eq!(c.acquire(1), Some(Slot::Own));
    }

    #[test]
    fn kept_equal_to_the_share_lends_nothing() {
        let c = Core::new(&[2, 3], 3);
        assert_eq!(c.acquire(0), Some(Slot::Own));
        assert_eq!(c.acquire(0), Some(Slot::Own));
        assert_eq!(c.acquire(0), None);
    }

    #[test]
    fn a_partition_without_a_share_only_borrows() {
        let c = Core::new(&[3, 0], 1);
        assert_eq!(c.acquire(1), Some(Slot::Borrowed(0)));
        assert_eq!(c.acquire(1), Some(Slot::Borrowed(0)));
        assert_eq!(c.acquire(1), None);
        assert_eq!(c.acquire(0), Some(Slot::Own));
        assert_eq!(c.acquire(0), None);
    }
}

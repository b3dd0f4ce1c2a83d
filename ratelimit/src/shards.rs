//! The sharded map behind [`KeyedRateLimiter`](crate::KeyedRateLimiter):
//! one limiter state per key, found with one hash, idle keys evicted.
//!
//! # Implementation notes
//!
//! A key is hashed once, by the limiter's `BuildHasher` (foldhash under a
//! seed drawn at random per process by default; see
//! [`KeyedRateLimiter`](crate::KeyedRateLimiter) for the choice). The same
//! 64-bit hash picks the shard (bits
//! 32 and up) and finds the key in the shard's `hashbrown::HashTable`, a
//! map that takes the hash from its caller, so the key is never hashed
//! twice on a check (only when a table grows or shrinks are its keys
//! hashed again). hashbrown takes a bucket from the hash's low bits and a
//! tag from its top seven, which is why the shard is picked from the
//! middle bits (all keys of a shard share those, and sharing low or top
//! bits would crowd buckets or tags). An entry is the key and its state
//! word, so a `u64` key costs 16 bytes; keys with one hash are told apart
//! by comparing the keys, as in any hash map.
//!
//! Each shard is a `parking_lot::RwLock` (loom's in the models). A check of a known key takes the
//! read lock and runs the lock-free core on the key's state (many checks
//! of one shard proceed in parallel; no write lock on this path); only a
//! new key takes the write lock to insert.
//!
//! Memory stays bounded by the keys that are active. A key is *idle* when
//! its state reads exactly like a fresh one's (a GCRA whose burst has
//! refilled, a window with nothing counted), so dropping it changes no
//! decision; it is *stale* when it has been idle for a whole window (its
//! state read as fresh one window ago already). When an insert finds its
//! shard at its sweep mark, the shard drops its stale keys and sets the
//! next mark at twice what is left (at least 64), shrinking the map if it
//! is left less than a quarter used: a shard holds at most about twice the
//! keys active within their last two windows, and sweeping costs amortised
//! O(1) per insert. Sweeping only stale keys, not every idle one, keeps a
//! key that comes back within its window (a client sending steadily below
//! its rate) from being dropped and re-inserted at every visit.
//! [`evict_idle`](crate::KeyedRateLimiter::evict_idle) drops every idle key
//! at once.

use crate::state::Rule;
use crate::sync::{AtomicU64, CachePadded, RwLock};
use ballast_core::Nanos;
use hashbrown::HashTable;
use std::hash::{BuildHasher, Hash};

const MIN_SWEEP: usize = 64;

struct Shard<K> {
    /// Each key and its state word, found by the key's hash.
    table: HashTable<(K, AtomicU64)>,
    /// Sweep idle keys when an insert finds this many keys.
    sweep_at: usize,
}

impl<K: Hash + Eq> Shard<K> {
    // Always: it is the whole of the hot path's lookup, and the
    // compiler otherwise keeps it out of line.
    #[inline(always)]
    fn get(&self, hash: u64, key: &K) -> Option<&AtomicU64> {
        self.table
            .find(hash, |(k, _)| k == key)
            .map(|(_, state)| state)
    }

    /// Inserts a key the table does not hold; `hasher` hashes the keys
    /// again if the table grows.
    fn insert(&mut self, hash: u64, key: K, state: AtomicU64, hasher: &impl BuildHasher) {
        self.table
            .insert_unique(hash, (key, state), |(k, _)| hasher.hash_one(k));
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    /// Drops the keys `evict` picks; returns how many. The next sweep
    /// comes at twice the keys left; a table left mostly empty shrinks.
    fn sweep(&mut self, evict: impl Fn(&AtomicU64) -> bool, hasher: &impl BuildHasher) -> usize {
        let before = self.len();
        self.table.retain(|(_, state)| !evict(state));
        let keys = self.len();
        self.sweep_at = (keys * 2).max(MIN_SWEEP);
        if self.table.capacity() > 4 * self.sweep_at {
            self.table
                .shrink_to(self.sweep_at, |(k, _)| hasher.hash_one(k));
        }
        before - keys
    }
}

/// One limiter state per key, in shards, found by hashes `S` builds.
pub(crate) struct Shards<K, S> {
    /// Each on cache lines of its own: a read lock writes the lock word,
    /// and neighbouring shards' words must not share a line.
    shards: Box<[CachePadded<RwLock<Shard<K>>>]>,
    hasher: S,
    /// `shards.len() - 1` (a power of two less one).
    mask: usize,
}

impl<K, S> Shards<K, S> {
    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher> Shards<K, S> {
    /// `count` shards, rounded up to a power of two in `1..=65536`, whose
    /// keys `hasher` hashes.
    pub(crate) fn new(count: usize, hasher: S) -> Self {
        let count = count.clamp(1, 1 << 16).next_power_of_two();
        let shards = (0..count)
            .map(|_| {
                CachePadded(RwLock::new(Shard {
                    table: HashTable::new(),
                    sweep_at: MIN_SWEEP,
                }))
            })
            .collect();
        Self {
            shards,
            hasher,
            mask: count - 1,
        }
    }

    /// Runs `f` on `key`'s state word at `now`, inserting a fresh one for
    /// `rule` (and maybe sweeping the shard) if the key is new.
    #[inline]
    pub(crate) fn with_state<R>(
        &self,
        key: &K,
        now: Nanos,
        rule: &Rule,
        f: impl FnOnce(&AtomicU64) -> R,
    ) -> R {
        let hash = self.hasher.hash_one(key);
        let shard = &self.shards[(hash >> 32) as usize & self.mask];
        {
            let read = shard.read();
            if let Some(state) = read.get(hash, key) {
                return f(state);
            }
        }
        let mut write = shard.write();
        let shard = &mut *write;
        if shard.get(hash, key).is_none() {
            if shard.len() >= shard.sweep_at {
                shard.sweep(|s| rule.is_stale(s, now), &self.hasher);
            }
            shard.insert(hash, key.clone(), rule.fresh(), &self.hasher);
        }
        f(shard
            .get(hash, key)
            .expect("the key was just found or inserted"))
    }

    /// Drops every key whose state reads as fresh at `now`; returns how many.
    pub(crate) fn evict_idle(&self, rule: &Rule, now: Nanos) -> usize {
        self.shards
            .iter()
            .map(|s| s.write().sweep(|s| rule.is_idle(s, now), &self.hasher))
            .sum()
    }

    /// How many keys hold state.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::Quota;
    use std::hash::Hasher;
    use std::num::NonZeroU32;

    fn rule() -> Rule {
        Rule::new(&crate::config::Limit::Gcra(Quota::per_second(
            NonZeroU32::new(1).unwrap(),
        )))
    }

    /// A key whose hash is whatever the test says: collisions on demand.
    #[derive(Clone, PartialEq, Eq, Debug)]
    struct Colliding(u32);

    impl Hash for Colliding {
        fn hash<H: Hasher>(&self, state: &mut H) {
            state.write_u8(7);
        }
    }

    #[test]
    fn keys_with_one_hash_keep_separate_states() {
        let shards = Shards::new(4, hashbrown::DefaultHashBuilder::default());
        let l = rule();
        for k in 0..5 {
            assert!(shards.with_state(&Colliding(k), 0, &l, |s| l.reserve_n(s, 1, 0, 0).is_ok()));
        }
        for k in 0..5 {
            assert!(shards.with_state(&Colliding(k), 0, &l, |s| l.reserve_n(s, 1, 0, 0).is_err()));
        }
        assert_eq!(shards.len(), 5);
        assert_eq!(shards.evict_idle(&l, 999_999_999), 0);
        // Inserting more keys sweeps only stale ones: these are idle, not stale.
        let sweep = |now| {
            for shard in shards.shards.iter() {
                shard.write().sweep(|s| l.is_stale(s, now), &shards.hasher);
            }
        };
        sweep(1_999_999_999);
        assert_eq!(shards.len(), 5);
        sweep(2_000_000_000);
        assert_eq!(shards.len(), 0);
        for k in 0..5 {
            shards.with_state(&Colliding(k), 0, &l, |_| ());
        }
        assert_eq!(shards.evict_idle(&l, 1_000_000_000), 5);
        assert_eq!(shards.len(), 0);
    }

    #[test]
    fn a_colliding_key_keeps_its_state_when_the_first_is_evicted() {
        let shards = Shards::new(1, hashbrown::DefaultHashBuilder::default());
        let l = rule();
        const SEC: Nanos = 1_000_000_000;
        // Keys 0 and 1 have one hash; key 0 is idle at 1s and stale at 2s,
        // key 1 busy until 2.5s.
        shards.with_state(&Colliding(0), 0, &l, |s| l.reserve_n(s, 1, 0, 0).unwrap());
        shards.with_state(&Colliding(1), 3 * SEC / 2, &l, |s| {
            l.reserve_n(s, 1, 3 * SEC / 2, 0).unwrap()
        });
        let now = 21 * SEC / 10;
        let stale = shards.shards[0]
            .write()
            .sweep(|s| l.is_stale(s, now), &shards.hasher);
        assert_eq!(stale, 1);
        // Key 1 still finds its own state (a fresh one would admit).
        let admitted = shards.with_state(&Colliding(1), now, &l, |s| l.reserve_n(s, 1, now, 0));
        assert!(admitted.is_err());
        assert_eq!(shards.len(), 1);
    }
}

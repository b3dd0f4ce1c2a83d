//! The sharded map behind [`KeyedRateLimiter`](crate::KeyedRateLimiter):
//! one [`State`] per key, found with one hash, idle keys evicted.
//!
//! # Implementation notes
//!
//! A key is hashed once, with SipHash-1-3 under a random seed (std's
//! `RandomState`: keys often come from clients, and a fixed seed would let
//! them aim at one bucket). The same 64-bit hash picks the shard (bits
//! 32 and up) and is the shard map's key: the map hashes it with a
//! pass-through hasher, so the key itself is never hashed twice. hashbrown
//! takes a bucket from the hash's low bits and a tag from its top seven,
//! which is why the shard is picked from the middle bits (all keys of a
//! shard share those, and sharing low or top bits would crowd buckets or
//! tags). Two keys with the same 64-bit hash share a slot holding both, so
//! a collision costs a comparison, never a wrong answer.
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
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};

const MIN_SWEEP: usize = 64;

/// Hashes a `u64` that already is a hash to itself.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys reach this hasher (`write_u64`); fold anything
        // else rather than panic.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

/// The keys that share one 64-bit hash: almost always one.
enum Slot<K> {
    One(K, AtomicU64),
    // A boxed slice: collisions are rare, and a slot stays two words
    // plus a tag (an inline `Vec` would be three).
    Many(Box<[(K, AtomicU64)]>),
}

impl<K: Eq> Slot<K> {
    #[inline]
    fn get(&self, key: &K) -> Option<&AtomicU64> {
        match self {
            Slot::One(k, s) => (k == key).then_some(s),
            Slot::Many(v) => v.iter().find(|(k, _)| k == key).map(|(_, s)| s),
        }
    }

    /// Adds a key whose hash is this slot's (a collision).
    fn push(&mut self, key: K, state: AtomicU64) {
        let mut all = match std::mem::replace(self, Slot::Many(Box::default())) {
            Slot::One(k, s) => vec![(k, s)],
            Slot::Many(v) => v.into_vec(),
        };
        all.push((key, state));
        *self = Slot::Many(all.into_boxed_slice());
    }

    fn len(&self) -> usize {
        match self {
            Slot::One(..) => 1,
            Slot::Many(v) => v.len(),
        }
    }

    /// Drops the keys `evict` picks; false when none is left.
    fn keep(&mut self, evict: impl Fn(&AtomicU64) -> bool) -> bool {
        match self {
            Slot::One(_, s) => !evict(s),
            Slot::Many(v) => {
                let mut kept = std::mem::take(v).into_vec();
                kept.retain(|(_, s)| !evict(s));
                *v = kept.into_boxed_slice();
                !v.is_empty()
            }
        }
    }
}

struct Shard<K> {
    map: HashMap<u64, Slot<K>, BuildHasherDefault<PassThrough>>,
    /// Keys held (slots hold more than one only on a hash collision).
    keys: usize,
    /// Sweep idle keys when an insert finds this many keys.
    sweep_at: usize,
}

impl<K: Eq> Shard<K> {
    /// Drops the keys `evict` picks; returns how many. The next sweep
    /// comes at twice the keys left; a map left mostly empty shrinks.
    fn sweep(&mut self, evict: impl Fn(&AtomicU64) -> bool) -> usize {
        let before = self.keys;
        self.map.retain(|_, slot| slot.keep(&evict));
        self.keys = self.map.values().map(Slot::len).sum();
        self.sweep_at = (self.keys * 2).max(MIN_SWEEP);
        if self.map.capacity() > 4 * self.sweep_at {
            self.map.shrink_to(self.sweep_at);
        }
        before - self.keys
    }
}

/// One limiter state per key, in shards.
pub(crate) struct Shards<K> {
    /// Each on cache lines of its own: a read lock writes the lock word,
    /// and neighbouring shards' words must not share a line.
    shards: Box<[CachePadded<RwLock<Shard<K>>>]>,
    hasher: RandomState,
    /// `shards.len() - 1` (a power of two less one).
    mask: usize,
}

impl<K> Shards<K> {
    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }
}

impl<K: Hash + Eq + Clone> Shards<K> {
    /// `count` shards, rounded up to a power of two in `1..=65536`.
    pub(crate) fn new(count: usize) -> Self {
        let count = count.clamp(1, 1 << 16).next_power_of_two();
        let shards = (0..count)
            .map(|_| {
                CachePadded(RwLock::new(Shard {
                    map: HashMap::default(),
                    keys: 0,
                    sweep_at: MIN_SWEEP,
                }))
            })
            .collect();
        Self {
            shards,
            hasher: RandomState::new(),
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
            if let Some(state) = read.map.get(&hash).and_then(|slot| slot.get(key)) {
                return f(state);
            }
        }
        let mut write = shard.write();
        let shard = &mut *write;
        let known = shard.map.get(&hash).is_some_and(|s| s.get(key).is_some());
        if !known {
            if shard.keys >= shard.sweep_at {
                shard.sweep(|s| rule.is_stale(s, now));
            }
            let (key, state) = (key.clone(), rule.fresh());
            match shard.map.entry(hash) {
                Entry::Vacant(e) => {
                    e.insert(Slot::One(key, state));
                }
                Entry::Occupied(mut e) => e.get_mut().push(key, state),
            }
            shard.keys += 1;
        }
        with_known(shard, hash, key, f)
    }

    /// Drops every key whose state reads as fresh at `now`; returns how many.
    pub(crate) fn evict_idle(&self, rule: &Rule, now: Nanos) -> usize {
        self.shards
            .iter()
            .map(|s| s.write().sweep(|s| rule.is_idle(s, now)))
            .sum()
    }

    /// How many keys hold state.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().keys).sum()
    }
}

/// Runs `f` on the state of a key known to be in `shard`.
fn with_known<K: Eq, R>(
    shard: &Shard<K>,
    hash: u64,
    key: &K,
    f: impl FnOnce(&AtomicU64) -> R,
) -> R {
    let state = shard.map.get(&hash).and_then(|slot| slot.get(key));
    f(state.expect("the key was just found or inserted"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::Quota;
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
        let shards = Shards::new(4);
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
                shard.write().sweep(|s| l.is_stale(s, now));
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
    fn pass_through_hashes_a_hash_to_itself() {
        let b = BuildHasherDefault::<PassThrough>::default();
        assert_eq!(b.hash_one(0xdead_beef_u64), 0xdead_beef);
    }
}

//! One shard of the keyed registry: its keys' breakers, plus the order the
//! eviction hand walks them in.

use crate::breaker::Breaker;
use crate::sync::{AtomicU64, Ordering};
use ballast_core::Nanos;
use std::collections::HashMap;
use std::hash::Hash;

/// One key's breaker.
pub(super) struct Entry {
    pub(super) breaker: Breaker,
    /// When the key was last used, on the registry's clock, to within the
    /// touch granularity: decides idleness.
    pub(super) last_used: AtomicU64,
    /// Where the key sits in its shard's `order`.
    slot: usize,
}

impl Entry {
    /// A stored key's breaker: from now until the entry is dropped
    /// (removed, evicted, or the registry dropped), it counts in the
    /// registry's key gauges (feature `metrics`).
    fn new(breaker: Breaker, now: Nanos, slot: usize) -> Self {
        #[cfg(feature = "metrics")]
        breaker.shared.core.count_in_keys(true);
        Entry {
            breaker,
            last_used: AtomicU64::new(now),
            slot,
        }
    }

    #[inline]
    pub(super) fn touch(&self, now: Nanos, granularity: Nanos) {
        // Relaxed: a standalone hint for eviction; nothing is published
        // through it. Writing only when it moved by more than the
        // granularity keeps calls from writing a shared line every time.
        if now.saturating_sub(self.last_used.load(Ordering::Relaxed)) > granularity {
            self.last_used.store(now, Ordering::Relaxed);
        }
    }
}

// The key is no longer held: its breaker leaves the key gauges, whatever
// happens to it later (calls in flight finish on it; `remove` hands it out).
impl Drop for Entry {
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        self.breaker.shared.core.count_in_keys(false);
    }
}

/// What one step of the eviction hand did in a shard.
pub(super) struct Step {
    /// Entries looked at.
    pub(super) examined: usize,
    /// Entries removed.
    pub(super) removed: usize,
    /// True when the hand passed the shard's last entry (and went back to
    /// its first): the next step goes on in the next shard.
    pub(super) wrapped: bool,
}

/// Keys and their breakers. `order` lists every key once, in no
/// particular order, so the hand can walk the shard a few entries at a
/// time (a `HashMap` cannot be walked from a position); each entry knows
/// its slot there, so a removal is a `swap_remove`.
pub(super) struct Shard<K> {
    map: HashMap<K, Entry>,
    order: Vec<K>,
    /// The next slot of `order` the eviction hand looks at.
    hand: usize,
}

impl<K> Default for Shard<K> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            order: Vec::new(),
            hand: 0,
        }
    }
}

impl<K> Shard<K> {
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl<K: Hash + Eq + Clone> Shard<K> {
    #[inline]
    pub(super) fn get<Q>(&self, key: &Q) -> Option<&Entry>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &Entry)> {
        self.map.iter()
    }

    /// Adds `key`, which the shard must not hold.
    pub(super) fn insert(&mut self, key: K, breaker: Breaker, now: Nanos) {
        let slot = self.order.len();
        self.order.push(key.clone());
        self.map.insert(key, Entry::new(breaker, now, slot));
    }

    pub(super) fn remove<Q>(&mut self, key: &Q) -> Option<Entry>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.map.get(key)?.slot;
        Some(self.remove_at(slot))
    }

    /// Removes the key in `slot`; the last key moves into the slot.
    fn remove_at(&mut self, slot: usize) -> Entry {
        let key = self.order.swap_remove(slot);
        let entry = self.map.remove(&key).expect("order lists only held keys");
        if let Some(moved) = self.order.get(slot) {
            self.map
                .get_mut(moved)
                .expect("order lists only held keys")
                .slot = slot;
        }
        entry
    }

    /// Looks at up to `budget` entries from the hand on, removing those
    /// `evict` picks.
    pub(super) fn step(&mut self, budget: usize, mut evict: impl FnMut(&Entry) -> bool) -> Step {
        let mut step = Step {
            examined: 0,
            removed: 0,
            wrapped: false,
        };
        while step.examined < budget {
            let Some(key) = self.order.get(self.hand) else {
                self.hand = 0;
                step.wrapped = true;
                break;
            };
            step.examined += 1;
            if evict(&self.map[key]) {
                // The last entry moves into the hand's slot: look at it next.
                self.remove_at(self.hand);
                step.removed += 1;
            } else {
                self.hand += 1;
            }
        }
        step
    }

    /// Removes every entry `evict` picks; returns how many.
    pub(super) fn sweep(&mut self, evict: impl Fn(&Entry) -> bool) -> usize {
        let before = self.map.len();
        self.map.retain(|_, e| !evict(e));
        if self.map.len() != before {
            let map = &mut self.map;
            self.order.retain(|k| map.contains_key(k));
            for (slot, key) in self.order.iter().enumerate() {
                map.get_mut(key).expect("just kept").slot = slot;
            }
            self.hand = self.hand.min(self.order.len());
        }
        before - self.map.len()
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;
    use crate::config::Config;

    fn shard(keys: u32) -> Shard<u32> {
        let mut s = Shard::default();
        let b = Breaker::new(Config::default());
        for k in 0..keys {
            s.insert(k, b.clone(), u64::from(k));
        }
        s
    }

    /// Every key in `order` is in the map at its slot, and the other way.
    fn consistent(s: &Shard<u32>) {
        assert_eq!(s.order.len(), s.map.len());
        for (slot, k) in s.order.iter().enumerate() {
            assert_eq!(s.map[k].slot, slot);
        }
    }

    #[test]
    fn steps_look_at_no_more_than_their_budget_and_walk_every_entry_once_per_round() {
        let mut s = shard(10);
        let seen = std::cell::RefCell::new(Vec::new());
        let mut rounds = 0;
        while rounds < 1 {
            let step = s.step(3, |e| {
                seen.borrow_mut().push(e.last_used.load(Ordering::Relaxed));
                false
            });
            assert!(step.examined <= 3);
            rounds += usize::from(step.wrapped);
        }
        let mut seen = seen.into_inner();
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn removals_by_key_by_step_and_by_sweep_keep_slots_consistent() {
        let mut s = shard(20);
        assert!(s.remove(&3).is_some());
        assert!(s.remove(&3).is_none());
        consistent(&s);
        let step = s.step(5, |e| e.last_used.load(Ordering::Relaxed) % 2 == 0);
        assert_eq!(step.examined, 5);
        consistent(&s);
        let thirds = s
            .iter()
            .filter(|(_, e)| e.last_used.load(Ordering::Relaxed) % 3 == 0)
            .count();
        assert!(thirds > 0);
        assert_eq!(
            s.sweep(|e| e.last_used.load(Ordering::Relaxed) % 3 == 0),
            thirds
        );
        consistent(&s);
        assert!(
            s.iter()
                .all(|(_, e)| e.last_used.load(Ordering::Relaxed) % 3 != 0)
        );
    }
}

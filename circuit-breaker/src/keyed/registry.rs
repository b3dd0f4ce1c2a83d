//! [`KeyedBreakers`]: one breaker per key, created on first use, with a
//! bounded number of keys.

use super::layer::KeyedCircuitBreakerLayer;
use super::settings::KeyedSettings;
use super::shard::{Entry, Shard};
use super::stats::KeyedStats;
use crate::breaker::Breaker;
use crate::config::Config;
use crate::events::StateChange;
use crate::metrics::Metrics;
use crate::sync::{AtomicU64, CachePadded, Ordering};
use ballast_core::{Clock, HotClock, Nanos, nanos};
use parking_lot::{Mutex, RwLock};
use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

/// How many locks the keys are spread over (a power of two).
const SHARDS: usize = 16;
/// The coarsest a key's last-use time may be: it is written at most once
/// per `min(idle_timeout / 64, this)`.
const MAX_TOUCH_GRANULARITY: Duration = Duration::from_millis(100);
/// The most entries the eviction hand looks at for one new key.
pub const EVICTION_STEP: usize = 8;

type KeyListener<K> = Arc<dyn Fn(&K, &StateChange) + Send + Sync>;
type Listeners<K> = Arc<RwLock<Vec<KeyListener<K>>>>;
type Namer<K> = Box<dyn Fn(&K) -> String + Send + Sync>;

/// The registry's own counters (see [`KeyedStats`]).
#[derive(Default)]
struct Counters {
    inserted: AtomicU64,
    evicted: AtomicU64,
    examined: AtomicU64,
    overflowed: AtomicU64,
}

/// Where the eviction hand is, and what its current round over every
/// shard has found.
struct Hand {
    shard: usize,
    /// Keys removed since the round began.
    removed: usize,
    /// The soonest an entry passed this round may become evictable.
    soonest: Nanos,
}

impl Hand {
    const START: Hand = Hand {
        shard: 0,
        removed: 0,
        soonest: Nanos::MAX,
    };
}

struct Inner<K> {
    shards: Box<[CachePadded<RwLock<Shard<K>>>]>,
    /// Picks a key's shard.
    hasher: RandomState,
    /// Slots taken: entries in the shards plus inserts under way. Never
    /// above `max_keys`, and never below the number of entries.
    reserved: AtomicU64,
    /// The eviction hand; held while it steps, and only tried, never
    /// waited for.
    hand: Mutex<Hand>,
    /// Steps are skipped until this time: the last round over every key
    /// freed nothing, and nothing it saw can be freed before then.
    rest_until: AtomicU64,
    /// What new keys get while every slot holds a live key.
    overflow: Breaker,
    /// What every key's breaker is built from.
    template: Config,
    /// Names each key's breaker, if set (else the template's name).
    namer: Option<Namer<K>>,
    /// The series every key's breaker reports into, under the template's
    /// name (feature `metrics`; see `export.rs`).
    #[cfg(feature = "metrics")]
    series: crate::export::Series,
    settings: KeyedSettings,
    idle: Nanos,
    granularity: Nanos,
    clock: HotClock,
    /// Listeners for every key; each breaker dispatches to the current list.
    listeners: Listeners<K>,
    counters: Counters,
}

/// A breaker per key (host, endpoint, tenant), created on first use from
/// one [`Config`], with a bounded number of keys.
///
/// `KeyedBreakers` is a cheap handle; clones share one registry. Wrap a
/// service with [`layer`](Self::layer), or take a key's breaker with
/// [`breaker`](Self::breaker) and use it like any [`Breaker`].
///
/// # Bounded memory
///
/// A key is *idle* once unused for [`KeyedSettings::idle_timeout`]; a
/// breaker is *tripped* while it holds calls back (open, half-open,
/// recovering, forced open) and *calm* otherwise (closed, disabled,
/// metrics-only). Only idle calm keys are ever evicted: evicting a tripped
/// breaker would let full traffic through to a dependency known to be
/// failing, and evicting a key in use would wipe the failures it is
/// counting, so whoever can mint keys could reset circuits.
///
/// - Once the registry is half full, each new key moves an eviction hand
///   over at most [`EVICTION_STEP`] entries (a clock sweep, shard after
///   shard), removing the idle calm ones it passes: a new key's cost is
///   bounded, and a shard's lock is held for at most that many entries.
/// - [`evict_idle`](Self::evict_idle) removes every idle calm key at once.
///
/// **When every one of the [`KeyedSettings::max_keys`] slots holds a live
/// key** (in use, or tripped), a new key gets no breaker of its own: its
/// calls go through the registry's one [`overflow`](Self::overflow)
/// breaker, built from the same config and shared by every key that did
/// not fit. Calls are never let through unguarded and never refused for
/// want of room: the overflow breaker trips, and refuses, like any other
/// when the calls through it fail. Breakers of the keys held are never
/// touched. A key that did not fit gets its own breaker on a later call
/// once the hand has freed a slot. [`stats`](Self::stats) counts these
/// calls (`overflowed`); size `max_keys` above the keys you expect to be
/// live within one `idle_timeout`.
///
/// An evicted key's next use creates a fresh, closed breaker. Calls in
/// flight on an evicted breaker finish on it.
///
/// Only calls count as use: [`breaker`](Self::breaker) and the layer's
/// services. [`get`](Self::get) and the snapshots do not.
pub struct KeyedBreakers<K> {
    inner: Arc<Inner<K>>,
}

// Written by hand: a clone shares the registry whatever `K` is.
impl<K> Clone for KeyedBreakers<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K> fmt::Debug for KeyedBreakers<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreakers")
            .field("name", &self.inner.template.name)
            .field("keys", &self.len())
            .field("max_keys", &self.inner.settings.max_keys())
            .finish()
    }
}

impl<K> KeyedBreakers<K> {
    /// The config every key's breaker is built from.
    pub fn config(&self) -> &Config {
        &self.inner.template
    }

    /// The limits on keys.
    pub fn settings(&self) -> &KeyedSettings {
        &self.inner.settings
    }

    /// How many keys have a breaker now. Counted shard by shard, so while
    /// other threads insert and evict it is approximate.
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.read().len()).sum()
    }

    /// True when no key has a breaker.
    pub fn is_empty(&self) -> bool {
        self.inner.shards.iter().all(|s| s.read().is_empty())
    }

    /// The breaker shared by new keys while every slot holds a live key
    /// (see the type's docs), named after the config with `/overflow`
    /// appended. Its events reach its own listeners, not the registry's.
    pub fn overflow(&self) -> &Breaker {
        &self.inner.overflow
    }

    /// The registry's own counters: keys created, evicted, entries the
    /// eviction hand examined, and overflowed new keys.
    pub fn stats(&self) -> KeyedStats {
        let c = &self.inner.counters;
        // Relaxed: statistics.
        KeyedStats {
            inserted: c.inserted.load(Ordering::Relaxed),
            evicted: c.evicted.load(Ordering::Relaxed),
            examined: c.examined.load(Ordering::Relaxed),
            overflowed: c.overflowed.load(Ordering::Relaxed),
        }
    }
}

impl<K> KeyedBreakers<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// An empty registry whose breakers are built from `config` and all
    /// share its name.
    pub fn new(config: Config, settings: KeyedSettings) -> Self {
        Self::build(config, settings, None)
    }

    /// Like [`new`](Self::new), naming each key's breaker `name(&key)` in
    /// events and logs (for example `|host| format!("inventory/{host}")`).
    pub fn with_names(
        config: Config,
        settings: KeyedSettings,
        name: impl Fn(&K) -> String + Send + Sync + 'static,
    ) -> Self {
        Self::build(config, settings, Some(Box::new(name)))
    }

    fn build(template: Config, settings: KeyedSettings, namer: Option<Namer<K>>) -> Self {
        let idle = nanos(settings.idle_timeout());
        let granularity = (idle / 64).min(nanos(MAX_TOUCH_GRANULARITY));
        let shards = (0..SHARDS)
            .map(|_| CachePadded(RwLock::new(Shard::default())))
            .collect();
        let mut overflow = template.clone();
        overflow.name = Arc::from(format!("{}/overflow", template.name));
        Self {
            inner: Arc::new(Inner {
                shards,
                hasher: RandomState::new(),
                reserved: AtomicU64::new(0),
                hand: Mutex::new(Hand::START),
                rest_until: AtomicU64::new(0),
                overflow: Breaker::new(overflow),
                #[cfg(feature = "metrics")]
                series: crate::export::Series::keyed(&template.name),
                template,
                namer,
                settings,
                idle,
                granularity,
                clock: HotClock::new(),
                listeners: Listeners::default(),
                counters: Counters::default(),
            }),
        }
    }

    /// A tower layer that puts each request behind the breaker of the key
    /// `key(&request)` returns.
    pub fn layer<F>(&self, key: F) -> KeyedCircuitBreakerLayer<K, F> {
        KeyedCircuitBreakerLayer::new(self.clone(), key)
    }

    /// The breaker for `key`, created (closed) if it has none; counts as a
    /// use of `key`. While every slot holds a live key, a new key gets the
    /// shared [`overflow`](Self::overflow) breaker instead (see the type's
    /// docs).
    pub fn breaker(&self, key: &K) -> Breaker {
        let now = self.inner.clock.now();
        self.lookup(key, now)
            .unwrap_or_else(|| self.insert(key.clone(), now))
    }

    /// Like [`breaker`](Self::breaker), taking the key by value.
    pub(crate) fn breaker_for(&self, key: K) -> Breaker {
        let now = self.inner.clock.now();
        self.lookup(&key, now)
            .unwrap_or_else(|| self.insert(key, now))
    }

    /// The breaker for `key` if it has one, without creating one or
    /// counting as a use: for operators to inspect or control it.
    pub fn get<Q>(&self, key: &Q) -> Option<Breaker>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = self.shard(key).read();
        shard.get(key).map(|e| e.breaker.clone())
    }

    /// Forgets `key` and returns its breaker, if it had one. Its next use
    /// starts a fresh, closed breaker.
    pub fn remove<Q>(&self, key: &Q) -> Option<Breaker>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let removed = self.shard(key).write().remove(key);
        removed.map(|e| {
            self.release(1);
            e.breaker.clone()
        })
    }

    /// The keys that have a breaker now.
    pub fn keys(&self) -> Vec<K> {
        self.inner
            .shards
            .iter()
            .flat_map(|s| s.read().iter().map(|(k, _)| k.clone()).collect::<Vec<_>>())
            .collect()
    }

    /// A snapshot of every key's breaker.
    pub fn metrics(&self) -> Vec<(K, Metrics)> {
        self.inner
            .shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .iter()
                    .map(|(k, e)| (k.clone(), e.breaker.metrics()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Calls `listener` with the key on every state change of every key's
    /// breaker, those that exist now and those created later, in order per
    /// breaker, on the thread that made the change. Listeners should be
    /// quick; they may call back into the registry.
    pub fn on_state_change(&self, listener: impl Fn(&K, &StateChange) + Send + Sync + 'static) {
        self.inner.listeners.write().push(Arc::new(listener));
    }

    /// Removes every idle key whose breaker is calm (see the type's docs)
    /// and returns how many it removed. This walks every key (each shard
    /// under its write lock in turn); new keys already evict a few at a
    /// time, so call it only to give memory back at once.
    pub fn evict_idle(&self) -> usize {
        let now = self.inner.clock.now();
        let removed = self
            .inner
            .shards
            .iter()
            .map(|s| s.write().sweep(|e| self.evictable(e, now)))
            .sum();
        self.evicted(removed);
        removed
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &RwLock<Shard<K>> {
        // `K: Borrow<Q>` promises `Q` hashes as `K` does, so both find the
        // same shard.
        let hash = self.inner.hasher.hash_one(key);
        &self.inner.shards[hash as usize & (SHARDS - 1)]
    }

    /// The existing breaker for `key`, marking the use; a read lock only.
    #[inline]
    fn lookup<Q>(&self, key: &Q, now: Nanos) -> Option<Breaker>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = self.shard(key).read();
        let entry = shard.get(key)?;
        entry.touch(now, self.inner.granularity);
        Some(entry.breaker.clone())
    }

    /// Creates `key`'s breaker if a slot is free (after one eviction step),
    /// else hands out the overflow breaker. Cold: kept out of the lookup
    /// path, which every call of a known key takes.
    #[cold]
    #[inline(never)]
    fn insert(&self, key: K, now: Nanos) -> Breaker {
        let max = self.inner.settings.max_keys() as u64;
        // Relaxed: only decides whether to step; the reserve decides.
        if self.inner.reserved.load(Ordering::Relaxed) >= max / 2 {
            self.step(now);
        }
        if !self.reserve(max) {
            // Another caller may have created the key meanwhile.
            return self.lookup(&key, now).unwrap_or_else(|| self.overflowed());
        }
        // Gives the slot back unless the key is stored, also if the namer panics.
        let slot = Slot(self, true);
        let breaker = self.create(&key);
        let mut shard = self.shard(&key).write();
        if let Some(existing) = shard.get(&key) {
            // Another caller created it meanwhile: use theirs, give the slot back.
            existing.touch(now, self.inner.granularity);
            return existing.breaker.clone();
        }
        shard.insert(key, breaker.clone(), now);
        drop(shard);
        slot.keep();
        // Relaxed: a statistic.
        self.inner.counters.inserted.fetch_add(1, Ordering::Relaxed);
        breaker
    }

    #[cold]
    fn overflowed(&self) -> Breaker {
        let inner = &*self.inner;
        // Relaxed: a statistic.
        let before = inner.counters.overflowed.fetch_add(1, Ordering::Relaxed);
        if before.is_power_of_two() || before == 0 {
            tracing::warn!(
                breaker = %inner.template.name, max_keys = inner.settings.max_keys(),
                overflowed = before + 1,
                "keyed circuit breakers full of live keys: new keys share the overflow breaker"
            );
        }
        inner.overflow.clone()
    }

    fn create(&self, key: &K) -> Breaker {
        let inner = &*self.inner;
        let config = match &inner.namer {
            Some(name) => {
                let mut config = inner.template.clone();
                config.name = Arc::from(name(key));
                config
            }
            None => inner.template.clone(),
        };
        #[cfg(feature = "metrics")]
        let breaker = Breaker::from_core(crate::core::Core::keyed(config, &inner.series));
        #[cfg(not(feature = "metrics"))]
        let breaker = Breaker::new(config);
        let (listeners, key) = (Arc::clone(&inner.listeners), key.clone());
        breaker.on_state_change(move |change| {
            // Copied out so a listener may add listeners without deadlock.
            let current = listeners.read().clone();
            for listener in &current {
                listener(&key, change);
            }
        });
        breaker
    }

    /// Takes a slot for a new key if one is free.
    fn reserve(&self, max: u64) -> bool {
        // Relaxed first read: the compare-exchange below decides.
        let mut taken = self.inner.reserved.load(Ordering::Relaxed);
        while taken < max {
            // Acquire: pairs with the Release in `release`, so the
            // removal that freed this slot happens before our insert.
            match self.inner.reserved.compare_exchange_weak(
                taken,
                taken + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now_taken) => taken = now_taken,
            }
        }
        false
    }

    /// Gives back `n` slots whose entries are gone.
    fn release(&self, n: usize) {
        if n > 0 {
            // Release: the removal happens before a reserve that takes the slot.
            self.inner.reserved.fetch_sub(n as u64, Ordering::Release);
        }
    }

    fn evictable(&self, e: &Entry, now: Nanos) -> bool {
        // Relaxed: see `Entry::touch`.
        let last = e.last_used.load(Ordering::Relaxed);
        now.saturating_sub(last) >= self.inner.idle && e.breaker.state().admits_all()
    }

    /// Moves the eviction hand over at most [`EVICTION_STEP`] entries,
    /// shard after shard, removing the idle calm ones. Skipped if another
    /// thread is stepping (it frees slots for everyone), and while the
    /// last full round freed nothing and nothing it saw can be freed yet:
    /// a flood of new keys into a registry full of live ones then costs no
    /// write lock at all.
    fn step(&self, now: Nanos) {
        let inner = &*self.inner;
        // Relaxed: a hint; a stale value only moves one step earlier or later.
        if now < inner.rest_until.load(Ordering::Relaxed) {
            return;
        }
        let Some(mut hand) = inner.hand.try_lock() else {
            return;
        };
        let (mut budget, mut removed) = (EVICTION_STEP, 0);
        // One more than the shards: the shard the hand starts in may be
        // walked again from its first entry.
        for _ in 0..=SHARDS {
            let mut soonest = hand.soonest;
            let step = inner.shards[hand.shard].write().step(budget, |e| {
                // Relaxed: see `Entry::touch`.
                let idle_at = e
                    .last_used
                    .load(Ordering::Relaxed)
                    .saturating_add(inner.idle);
                let calm = e.breaker.state().admits_all();
                if calm && now >= idle_at {
                    return true;
                }
                // A tripped breaker may turn calm with no call (an operator,
                // the recovery timer): look again after the touch granularity.
                let next = if calm {
                    idle_at
                } else {
                    now.saturating_add(inner.granularity.max(1))
                };
                soonest = soonest.min(next);
                false
            });
            budget -= step.examined;
            removed += step.removed;
            hand.removed += step.removed;
            hand.soonest = soonest;
            if step.wrapped {
                hand.shard = (hand.shard + 1) & (SHARDS - 1);
                if hand.shard == 0 {
                    // A round over every key: if it freed nothing, nothing it
                    // saw can be freed before `soonest` (keys inserted behind
                    // the hand may wait up to one round longer).
                    // (A round that saw no key at all sets nothing.)
                    if hand.removed == 0 && hand.soonest != Nanos::MAX {
                        // Relaxed: see above.
                        inner.rest_until.store(hand.soonest, Ordering::Relaxed);
                    }
                    *hand = Hand::START;
                }
            }
            if budget == 0 {
                break;
            }
        }
        drop(hand);
        // Relaxed: a statistic.
        let examined = (EVICTION_STEP - budget) as u64;
        inner
            .counters
            .examined
            .fetch_add(examined, Ordering::Relaxed);
        self.evicted(removed);
    }

    /// Counts and logs `n` evicted keys and gives their slots back.
    fn evicted(&self, n: usize) {
        if n > 0 {
            // Relaxed: a statistic.
            self.inner
                .counters
                .evicted
                .fetch_add(n as u64, Ordering::Relaxed);
            tracing::debug!(
                breaker = %self.inner.template.name, evicted = n,
                "keyed circuit breakers evicted idle keys"
            );
        }
        self.release(n);
    }
}

/// A reserved slot, given back on drop unless its key was stored.
struct Slot<'a, K>(&'a KeyedBreakers<K>, bool);

impl<K> Slot<'_, K> {
    fn keep(mut self) {
        self.1 = false;
    }
}

impl<K> Drop for Slot<'_, K> {
    fn drop(&mut self) {
        if self.1 {
            // Release: as in `KeyedBreakers::release`.
            self.0.inner.reserved.fetch_sub(1, Ordering::Release);
        }
    }
}

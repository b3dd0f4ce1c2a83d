//! [`KeyedBreakers`]: one breaker per key, created on first use, with a
//! bounded number of keys.

use super::layer::KeyedCircuitBreakerLayer;
use super::settings::KeyedSettings;
use crate::breaker::Breaker;
use crate::config::Config;
use crate::events::StateChange;
use crate::metrics::Metrics;
use crate::sync::{AtomicU64, CachePadded, Ordering};
use ballast_core::{Clock, Nanos, TokioClock, nanos};
use parking_lot::RwLock;
use std::borrow::Borrow;
use std::collections::HashMap;
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

type KeyListener<K> = Arc<dyn Fn(&K, &StateChange) + Send + Sync>;
type Listeners<K> = Arc<RwLock<Vec<KeyListener<K>>>>;
type Namer<K> = Box<dyn Fn(&K) -> String + Send + Sync>;

/// One key's breaker.
struct Entry {
    breaker: Breaker,
    /// When the key was last used, on the registry's clock, to within the
    /// touch granularity: decides idleness and the least recently used.
    last_used: AtomicU64,
}

impl Entry {
    fn touch(&self, now: Nanos, granularity: Nanos) {
        // Relaxed: a standalone hint for eviction; nothing is published
        // through it. Writing only when it moved by more than the
        // granularity keeps calls from writing a shared line every time.
        if now.saturating_sub(self.last_used.load(Ordering::Relaxed)) > granularity {
            self.last_used.store(now, Ordering::Relaxed);
        }
    }
}

type Shard<K> = CachePadded<RwLock<HashMap<K, Entry>>>;

struct Inner<K> {
    shards: Box<[Shard<K>]>,
    /// Picks a key's shard.
    hasher: RandomState,
    /// Slots taken: entries in the shards plus inserts under way. Never
    /// above `max_keys`, and never below the number of entries.
    reserved: AtomicU64,
    /// What every key's breaker is built from.
    template: Config,
    /// Names each key's breaker, if set (else the template's name).
    namer: Option<Namer<K>>,
    settings: KeyedSettings,
    idle: Nanos,
    granularity: Nanos,
    clock: TokioClock,
    /// Listeners for every key; each breaker dispatches to the current list.
    listeners: Listeners<K>,
}

/// Where an eviction for room ranks an entry: lowest goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// Unused for the idle timeout, and still holding calls back.
    IdleTripped,
    /// In use, letting calls through.
    ActiveCalm,
    /// In use, holding calls back.
    ActiveTripped,
}

/// The entry an eviction for room would remove if nothing idle was calm.
struct Victim {
    rank: (Class, Nanos),
    shard: usize,
    breaker: Breaker,
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
/// metrics-only). Evicting a tripped breaker would let full traffic through
/// to a dependency known to be failing, so:
///
/// - [`evict_idle`](Self::evict_idle) removes idle keys with calm breakers.
/// - Creating a key when [`KeyedSettings::max_keys`] are held first removes
///   every idle calm key; if there was none, it removes one key, choosing
///   an idle tripped key, then the least recently used calm key, then the
///   least recently used tripped key.
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
            .map(|_| CachePadded(RwLock::new(HashMap::new())))
            .collect();
        Self {
            inner: Arc::new(Inner {
                shards,
                hasher: RandomState::new(),
                reserved: AtomicU64::new(0),
                template,
                namer,
                settings,
                idle,
                granularity,
                clock: TokioClock::new(),
                listeners: Listeners::default(),
            }),
        }
    }

    /// A tower layer that puts each request behind the breaker of the key
    /// `key(&request)` returns.
    pub fn layer<F>(&self, key: F) -> KeyedCircuitBreakerLayer<K, F> {
        KeyedCircuitBreakerLayer::new(self.clone(), key)
    }

    /// The breaker for `key`, created (closed) if it has none; counts as a
    /// use of `key`.
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
            e.breaker
        })
    }

    /// The keys that have a breaker now.
    pub fn keys(&self) -> Vec<K> {
        self.inner
            .shards
            .iter()
            .flat_map(|s| s.read().keys().cloned().collect::<Vec<_>>())
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
    /// and returns how many it removed.
    pub fn evict_idle(&self) -> usize {
        let (removed, _) = self.sweep(self.inner.clock.now(), false);
        self.release(removed);
        removed
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &RwLock<HashMap<K, Entry>> {
        // `K: Borrow<Q>` promises `Q` hashes as `K` does, so both find the
        // same shard.
        let hash = self.inner.hasher.hash_one(key);
        &self.inner.shards[hash as usize & (SHARDS - 1)]
    }

    /// The existing breaker for `key`, marking the use; a read lock only.
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

    /// Creates `key`'s breaker, making room first if the registry is full.
    fn insert(&self, key: K, now: Nanos) -> Breaker {
        // Built before taking the lock, to hold it briefly, and before
        // reserving, so a panicking namer cannot leak a slot.
        let breaker = self.create(&key);
        self.reserve(now);
        let mut shard = self.shard(&key).write();
        if let Some(existing) = shard.get(&key) {
            // Another caller created it meanwhile: use theirs, give the slot back.
            existing.touch(now, self.inner.granularity);
            let existing = existing.breaker.clone();
            drop(shard);
            self.release(1);
            return existing;
        }
        shard.insert(
            key,
            Entry {
                breaker: breaker.clone(),
                last_used: AtomicU64::new(now),
            },
        );
        breaker
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

    /// Takes a slot for a new key, evicting until one is free.
    fn reserve(&self, now: Nanos) {
        let max = self.inner.settings.max_keys() as u64;
        // Relaxed first read: the compare-exchange below decides.
        let mut taken = self.inner.reserved.load(Ordering::Relaxed);
        loop {
            if taken < max {
                // Acquire: pairs with the Release in `release`, so the
                // removal that freed this slot happens before our insert.
                match self.inner.reserved.compare_exchange_weak(
                    taken,
                    taken + 1,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(now_taken) => taken = now_taken,
                }
                continue;
            }
            if self.make_room(now) == 0 {
                // Every slot belongs to an insert still under way on
                // another thread; let it finish.
                std::thread::yield_now();
            }
            // Relaxed: as above.
            taken = self.inner.reserved.load(Ordering::Relaxed);
        }
    }

    /// Gives back `n` slots whose entries are gone.
    fn release(&self, n: usize) {
        if n > 0 {
            // Release: the removal happens before a reserve that takes the slot.
            self.inner.reserved.fetch_sub(n as u64, Ordering::Release);
        }
    }

    /// Removes every idle calm key; if there was none, the single key that
    /// ranks lowest. Returns how many it removed (0 only if the shards are
    /// empty).
    fn make_room(&self, now: Nanos) -> usize {
        let (mut removed, victim) = self.sweep(now, true);
        if removed == 0 {
            if let Some(victim) = victim {
                let mut shard = self.inner.shards[victim.shard].write();
                let before = shard.len();
                // The same breaker, if no one removed it meanwhile.
                shard.retain(|_, e| !Arc::ptr_eq(&e.breaker.shared, &victim.breaker.shared));
                removed = before - shard.len();
                drop(shard);
                if removed > 0 {
                    let state = victim.breaker.state();
                    if state.admits_all() {
                        tracing::debug!(
                            breaker = %victim.breaker.config().name(), %state,
                            "keyed circuit breakers full: evicted the least recently used key"
                        );
                    } else {
                        tracing::warn!(
                            breaker = %victim.breaker.config().name(), %state,
                            "keyed circuit breakers full: evicted a tripped breaker"
                        );
                    }
                }
            }
        }
        self.release(removed);
        removed
    }

    /// Removes idle calm entries, shard by shard; with `rank`, also finds
    /// the lowest-ranked entry left. The caller releases the slots.
    fn sweep(&self, now: Nanos, rank: bool) -> (usize, Option<Victim>) {
        let inner = &*self.inner;
        let mut removed = 0;
        let mut victim: Option<Victim> = None;
        for (i, shard) in inner.shards.iter().enumerate() {
            let mut map = shard.write();
            let before = map.len();
            map.retain(|_, e| {
                // Relaxed: see `Entry::touch`.
                let last = e.last_used.load(Ordering::Relaxed);
                let idle = now.saturating_sub(last) >= inner.idle;
                let calm = e.breaker.state().admits_all();
                if idle && calm {
                    return false;
                }
                if rank {
                    let class = match (idle, calm) {
                        (true, _) => Class::IdleTripped,
                        (false, true) => Class::ActiveCalm,
                        (false, false) => Class::ActiveTripped,
                    };
                    if victim.as_ref().is_none_or(|v| (class, last) < v.rank) {
                        victim = Some(Victim {
                            rank: (class, last),
                            shard: i,
                            breaker: e.breaker.clone(),
                        });
                    }
                }
                true
            });
            removed += before - map.len();
        }
        if removed > 0 {
            tracing::debug!(
                breaker = %inner.template.name, evicted = removed,
                "keyed circuit breakers evicted idle keys"
            );
        }
        (removed, victim)
    }
}

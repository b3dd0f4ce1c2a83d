//! [`KeyedRateLimiter`]: one limit per key (client id, IP, tenant), in a
//! sharded map whose idle keys are evicted (see `shards.rs` for how the
//! map finds a key with one hash and bounds its memory).

use crate::config::Config;
use crate::limiter::Core;
use crate::metrics::Metrics;
use crate::shards::Shards;
use crate::sync::{AtomicU64, CachePadded};
use ballast_core::{Nanos, Rejected};
use hashbrown::DefaultHashBuilder;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

/// A rate limiter with one limit per key; clones share every key's state.
///
/// # Hashing keys
///
/// Each check hashes its key once, with `S`. The default,
/// [`DefaultHashBuilder`](crate::DefaultHashBuilder) (hashbrown's: foldhash
/// under a seed drawn at random per process), is fast: about a tenth of
/// SipHash's instructions for a `u64` key, which makes it most of the
/// difference between a check slower than governor's keyed limiter and
/// one faster. Its trade: foldhash is not built to resist a client who
/// sends keys chosen to collide (HashDoS). The random seed keeps a client
/// from computing colliding keys offline, but foldhash makes no promise
/// that they cannot be found by probing, and a refusal's timing tells a
/// prober something. When keys come straight from untrusted clients and
/// an attacker could gain from slowing one shard down, pick SipHash,
/// std's [`RandomState`](std::hash::RandomState), at the cost of about a
/// hundred instructions a check:
///
/// ```
/// use ballast_ratelimit::{Config, KeyedRateLimiter};
/// use std::hash::RandomState;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), ballast_ratelimit::ConfigError> {
/// let config = Config::builder().rate(1, Duration::from_secs(1)).build()?;
/// let per_ip = KeyedRateLimiter::<String, _>::with_hasher(config, RandomState::new());
/// assert!(per_ip.check(&"203.0.113.7".to_owned()).is_ok());
/// # Ok(()) }
/// ```
///
/// ```
/// use ballast_ratelimit::{Config, KeyedRateLimiter};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), ballast_ratelimit::ConfigError> {
/// let per_client = KeyedRateLimiter::new(Config::builder().rate(1, Duration::from_secs(1)).build()?);
/// assert!(per_client.check(&"alice").is_ok());
/// assert!(per_client.check(&"alice").is_err());
/// assert!(per_client.check(&"bob").is_ok(), "each key has its own limit");
/// # Ok(()) }
/// ```
pub struct KeyedRateLimiter<K, S = DefaultHashBuilder> {
    /// One allocation for the limit and the keys' states, so a clone is
    /// one reference-count increment. Padded, so that in the `Arc` the
    /// fields start on a line after the reference counts: a clone per
    /// check (a router's clone per request) writes the counts from every
    /// core, and the fields, which every check reads, must not share their
    /// line.
    pub(crate) shared: Arc<CachePadded<Keyed<K, S>>>,
}

/// What every clone of a [`KeyedRateLimiter`] shares.
pub(crate) struct Keyed<K, S> {
    pub(crate) core: Arc<Core>,
    pub(crate) shards: Shards<K, S>,
}

impl<K, S> Clone for KeyedRateLimiter<K, S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<K, S> fmt::Debug for KeyedRateLimiter<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("config", &self.shared.core.config)
            .field("shards", &self.shared.shards.shard_count())
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone> KeyedRateLimiter<K, DefaultHashBuilder> {
    /// A keyed limiter with a shard count fitted to the machine (sixteen
    /// per available core, a power of two: a shard's read lock is a
    /// compare-and-swap that fails when two readers arrive at once, so
    /// many small shards keep concurrent checks apart; an empty shard costs
    /// two cache lines).
    pub fn new(config: Config) -> Self {
        Self::with_hasher(config, DefaultHashBuilder::default())
    }

    /// A keyed limiter with `shards` shards (rounded up to a power of two,
    /// at least 1).
    pub fn with_shards(config: Config, shards: usize) -> Self {
        Self::with_shards_and_hasher(config, shards, DefaultHashBuilder::default())
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher> KeyedRateLimiter<K, S> {
    /// A keyed limiter hashing its keys with `hasher` (see [Hashing
    /// keys](Self#hashing-keys)), with as many shards as
    /// [`new`](KeyedRateLimiter::new) picks.
    pub fn with_hasher(config: Config, hasher: S) -> Self {
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        Self::with_shards_and_hasher(config, cores * 16, hasher)
    }

    /// A keyed limiter with `shards` shards (as in
    /// [`with_shards`](KeyedRateLimiter::with_shards)) hashing its keys
    /// with `hasher`.
    pub fn with_shards_and_hasher(config: Config, shards: usize, hasher: S) -> Self {
        Self {
            shared: Arc::new(CachePadded(Keyed {
                core: Core::new(config),
                shards: Shards::new(shards, hasher),
            })),
        }
    }

    /// Runs `f` on `key`'s state at `now`, inserting a fresh one (and
    /// maybe sweeping the shard) if the key is new.
    #[inline]
    pub(crate) fn with_state<R>(&self, key: &K, now: Nanos, f: impl FnOnce(&AtomicU64) -> R) -> R {
        self.shared
            .shards
            .with_state(key, now, &self.shared.core.rule, f)
    }

    /// Takes one cell of `key`'s limit now or refuses (shadow mode still
    /// admits).
    pub fn check(&self, key: &K) -> Result<(), Rejected> {
        self.check_n(key, 1)
    }

    /// Takes `n` cells of `key`'s limit now, or none.
    pub fn check_n(&self, key: &K, n: u32) -> Result<(), Rejected> {
        let now = self.shared.core.now();
        self.check_n_at(key, n, now)
    }

    /// [`check_n`](Self::check_n) at an explicit time (ns since
    /// [`clock`](Self::clock)'s origin), for tests and benches.
    pub fn check_n_at(&self, key: &K, n: u32, now: Nanos) -> Result<(), Rejected> {
        self.with_state(key, now, |s| self.shared.core.check(s, n, now))
    }

    /// Takes one cell of `key`'s limit in the configured mode (see
    /// [`RateLimiter::until_ready`](crate::RateLimiter::until_ready)).
    pub async fn until_ready(&self, key: &K) -> Result<(), Rejected> {
        self.until_n_ready(key, 1).await
    }

    /// [`until_ready`](Self::until_ready) for `n` cells at once.
    pub async fn until_n_ready(&self, key: &K, n: u32) -> Result<(), Rejected> {
        use crate::limiter::Decision;
        let core = &self.shared.core;
        let mut now = core.now();
        let mut budget = core.budget(now);
        loop {
            match self.with_state(key, now, |s| core.decide(s, n, now, budget)) {
                Decision::Go => return Ok(()),
                Decision::Reject(r) => return Err(r),
                Decision::WaitUntil(at, _waiting) => {
                    tokio::time::sleep_until(at).await;
                    return Ok(());
                }
                Decision::Retry(after, _waiting) => {
                    tokio::time::sleep(after).await;
                    let later = core.now();
                    budget = budget.saturating_sub(later - now);
                    now = later;
                }
            }
        }
    }

    /// Drops every key whose state reads as fresh now; returns how many.
    ///
    /// Inserts already sweep a shard when it has grown to twice its keys
    /// that were in use within their last window or two (a key is dropped
    /// once it has been idle for a whole window), so memory follows the
    /// active keys without this; call it to give memory back at once.
    pub fn evict_idle(&self) -> usize {
        self.shared
            .shards
            .evict_idle(&self.shared.core.rule, self.shared.core.now())
    }

    /// How many keys hold state now.
    pub fn len(&self) -> usize {
        self.shared.shards.len()
    }

    /// True when no key holds state.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters so far, over all keys.
    pub fn metrics(&self) -> Metrics {
        self.shared.core.counters.snapshot()
    }

    /// The configuration every key's limit follows.
    pub fn config(&self) -> &Config {
        &self.shared.core.config
    }

    /// The clock this limiter reads.
    pub fn clock(&self) -> ballast_core::HotClock {
        self.shared.core.clock
    }

    /// A tower layer limiting each request by the key `key_fn` picks from it.
    pub fn layer<F>(&self, key_fn: F) -> crate::RateLimitLayer<crate::KeyedBy<K, F, S>> {
        crate::RateLimitLayer::keyed(self.clone(), key_fn)
    }

    /// The server-side HTTP layer limiting each request by the key
    /// `key_fn` picks from it (see [`http::key`](crate::http::key)):
    /// refusals are 429 responses with `Retry-After` and the rate-limit
    /// fields (feature `http`).
    #[cfg(feature = "http")]
    pub fn http_layer<F>(
        &self,
        key_fn: F,
        config: crate::http::HttpConfig,
    ) -> crate::http::HttpRateLimitLayer<crate::KeyedBy<K, F, S>> {
        crate::http::HttpRateLimitLayer::keyed(self.clone(), key_fn, config)
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_shared_fields_start_past_the_reference_counts_lines() {
        // An `Arc` allocation holds its two counts, then the value at the
        // value's alignment (`ArcInner` is `repr(C)`): at 128 or more, the
        // value starts two cache lines past the counts.
        let config = Config::builder()
            .rate(1, std::time::Duration::from_secs(1))
            .build()
            .expect("a valid config");
        let limiter = KeyedRateLimiter::<u64>::new(config);
        assert!(std::mem::align_of_val(&*limiter.shared) >= 128);
    }
}

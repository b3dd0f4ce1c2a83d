//! [`AdaptiveLimiter`]: the shared limiter and its operator handle, and the
//! plain async helper [`AdaptiveLimiter::call`].

use super::algorithm::LimitAlgorithm;
use super::config::{AdaptiveConfig, Algorithm};
use super::layer::AdaptiveLayer;
use super::limiter::{Admit, Change, Limiter};
use super::permit::{AdaptivePermit, Held, Holder};
use crate::sync::{AtomicU64, CachePadded, Ordering};
use ballast_core::{CallError, HotClock, Reason, Rejected};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What every clone of an adaptive limiter shares.
pub(crate) struct Shared {
    pub(crate) limiter: Limiter,
    pub(crate) config: AdaptiveConfig,
    algorithm: &'static str,
    pub(crate) clock: HotClock,
    /// Calls refused so far; on a line of its own, off the admission word.
    rejected: CachePadded<AtomicU64>,
    /// Calls admitted in shadow mode that enforcing would have refused.
    would_have_rejected: CachePadded<AtomicU64>,
    /// Limit changes so far.
    changes: AtomicU64,
    /// The series reported through the `metrics` facade.
    #[cfg(feature = "metrics")]
    pub(crate) export: crate::export::Export,
}

impl Shared {
    /// Asks for a permit for a call through `holder` (which it clones
    /// into the permit); counts and reports a refusal (and, in shadow
    /// mode, a call admitted over the limit).
    #[inline]
    pub(crate) fn acquire<H: Holder>(holder: &H) -> Result<Held<H>, Rejected> {
        let shared = holder.shared();
        match shared.limiter.try_acquire() {
            Admit::Yes { in_flight } => {
                #[cfg(feature = "metrics")]
                shared.export.acquired();
                Ok(Held::new(holder.clone(), in_flight))
            }
            Admit::Over { in_flight } => {
                shared.would_have_rejected_one();
                #[cfg(feature = "metrics")]
                shared.export.acquired();
                Ok(Held::new(holder.clone(), in_flight))
            }
            Admit::No => Err(shared.reject()),
        }
    }

    #[cold]
    fn reject(&self) -> Rejected {
        // Relaxed: a statistic.
        self.rejected.fetch_add(1, Ordering::Relaxed);
        // A permit frees in about one round trip.
        let rejected = match self.limiter.last_rtt_hint() {
            Some(rtt) => Rejected::retry_after(Reason::Overloaded, rtt),
            None => Rejected::retry_later(Reason::Overloaded),
        };
        #[cfg(feature = "metrics")]
        self.export.refused(&rejected);
        tracing::debug!(
            limiter = %self.config.name,
            algorithm = self.algorithm,
            limit = self.limiter.limit(),
            reason = %rejected,
            "call rejected",
        );
        rejected
    }

    #[cold]
    fn would_have_rejected_one(&self) {
        // Relaxed: a statistic.
        self.would_have_rejected.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            limiter = %self.config.name,
            algorithm = self.algorithm,
            limit = self.limiter.limit(),
            "call over the limit admitted (shadow mode)",
        );
    }

    /// Reports a limit change.
    #[cold]
    pub(crate) fn changed(&self, change: Option<Change>) {
        if let Some(c) = change {
            // Relaxed: a statistic.
            self.changes.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            self.export.set_limit(c.new);
            tracing::debug!(
                limiter = %self.config.name,
                algorithm = self.algorithm,
                old = c.old,
                new = c.new,
                why = c.why,
                "adaptive limit changed",
            );
        }
    }
}

/// A concurrency limit that moves with what the dependency can take,
/// measured from the round trips and drops of the calls it admits.
///
/// Cloning is cheap and shares the limit. Use [`layer`](Self::layer) for
/// tower stacks, [`call`](Self::call) for plain async code,
/// [`acquire`](Self::acquire) to hold a permit by hand, and
/// [`snapshot`](Self::snapshot) to see what it is doing.
#[derive(Clone)]
pub struct AdaptiveLimiter {
    pub(crate) shared: Arc<Shared>,
}

/// What an adaptive limiter is doing, read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdaptiveSnapshot {
    /// Calls holding a permit now.
    pub in_flight: u32,
    /// The limit now.
    pub limit: u32,
    /// Calls refused so far (shed at once: an adaptive limiter never
    /// queues).
    pub rejected: u64,
    /// Shadow mode: calls admitted that enforcing would have refused.
    pub would_have_rejected: u64,
    /// How many times the limit has changed.
    pub limit_changes: u64,
    /// Windows measured so far (algorithm updates).
    pub windows: u64,
    /// The last window's mean round trip (calls not dropped).
    pub last_rtt: Option<Duration>,
    /// The shortest window round trip seen: the no-load estimate.
    pub min_rtt: Option<Duration>,
    /// The algorithm's name.
    pub algorithm: &'static str,
}

impl AdaptiveLimiter {
    /// A limiter with `config` and its algorithm.
    pub fn new(config: AdaptiveConfig) -> Self {
        let algorithm: Box<dyn LimitAlgorithm> = match config.algorithm.clone() {
            Algorithm::Aimd(a) => Box::new(a),
            Algorithm::Vegas(v) => Box::new(v),
            Algorithm::Gradient2(g) => Box::new(g),
        };
        Self::build(config, algorithm)
    }

    /// A limiter with `config`'s bounds and window, moved by `algorithm`
    /// (config's own algorithm is not used).
    pub fn with_algorithm(config: AdaptiveConfig, algorithm: impl LimitAlgorithm) -> Self {
        Self::build(config, Box::new(algorithm))
    }

    fn build(config: AdaptiveConfig, algorithm: Box<dyn LimitAlgorithm>) -> Self {
        let name = algorithm.name();
        let limiter = Limiter::new(
            algorithm,
            config.initial_limit,
            config.min_limit,
            config.max_limit,
            config.min_window_samples,
            config.shadow,
        );
        Self {
            shared: Arc::new(Shared {
                #[cfg(feature = "metrics")]
                export: crate::export::Export::new(&config.name, limiter.limit()),
                limiter,
                config,
                algorithm: name,
                clock: HotClock::new(),
                rejected: CachePadded(AtomicU64::new(0)),
                would_have_rejected: CachePadded(AtomicU64::new(0)),
                changes: AtomicU64::new(0),
            }),
        }
    }

    /// The tower layer that puts services behind this limiter.
    pub fn layer(&self) -> AdaptiveLayer {
        AdaptiveLayer::new(self.clone())
    }

    /// The config it was built with.
    pub fn config(&self) -> &AdaptiveConfig {
        &self.shared.config
    }

    /// Takes a permit, or refuses at once with [`Reason::Overloaded`]
    /// (retry after about one round trip). Tell the permit how the call
    /// went ([`AdaptivePermit::success`], [`AdaptivePermit::dropped`]);
    /// dropped without a word, it gives its slot back and records nothing.
    pub fn acquire(&self) -> Result<AdaptivePermit, Rejected> {
        Shared::acquire(&self.shared).map(AdaptivePermit::new)
    }

    /// Runs `f()`'s future holding a permit; an `Err` counts as a drop (the
    /// dependency could not take the call), an `Ok` as a success, and the
    /// round trip is measured on the limiter's
    /// [`HotClock`](ballast_core::HotClock). `f` is not called if the
    /// limiter refuses. Dropped before it finishes, the call gives its
    /// permit back and records nothing.
    ///
    /// ```
    /// use ballast_bulkhead::adaptive::{AdaptiveConfig, AdaptiveLimiter};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limiter = AdaptiveLimiter::new(AdaptiveConfig::default());
    /// let answer = limiter.call(|| async { Ok::<_, std::io::Error>(42) }).await;
    /// assert_eq!(answer.unwrap(), 42);
    /// assert_eq!(limiter.snapshot().in_flight, 0);
    /// # }
    /// ```
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // The permit borrows the limiter, which outlives this future: no
        // reference count to bump.
        let permit = Shared::acquire(&&*self.shared).map_err(CallError::Rejected)?;
        match f().await {
            Ok(v) => {
                permit.finish(false);
                Ok(v)
            }
            Err(e) => {
                permit.finish(true);
                Err(CallError::Inner(e))
            }
        }
    }

    /// Sets the limit by hand (kept within the bounds); the algorithm goes
    /// on from there with the next window.
    pub fn set_limit(&self, limit: u32) {
        let change = self.shared.limiter.set_limit(limit);
        self.shared.changed(change);
    }

    /// In flight, limit, refusals and round-trip estimates now.
    pub fn snapshot(&self) -> AdaptiveSnapshot {
        let s = &self.shared;
        let e = s.limiter.estimates();
        AdaptiveSnapshot {
            in_flight: s.limiter.in_flight(),
            limit: s.limiter.limit(),
            // Relaxed: statistics.
            rejected: s.rejected.load(Ordering::Relaxed),
            would_have_rejected: s.would_have_rejected.load(Ordering::Relaxed),
            limit_changes: s.changes.load(Ordering::Relaxed),
            windows: e.windows,
            last_rtt: e.last_rtt,
            min_rtt: e.min_rtt,
            algorithm: s.algorithm,
        }
    }
}

impl fmt::Debug for AdaptiveLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimiter")
            .field("name", &self.shared.config.name)
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

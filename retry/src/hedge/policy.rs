//! [`HedgePolicy`]: the hedging policy and the operator's handle to it.

use super::config::{HedgeConfig, HedgeDelay};
use super::latency::LatencyCore;
use super::layer::HedgeLayer;
use super::metrics::{HedgeMetrics, HedgeStats};
use crate::budget::RetryBudget;
use ballast_core::{HotClock, nanos};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What every clone of a [`HedgePolicy`] and every service built from it
/// share.
pub(crate) struct HedgeShared {
    pub(crate) config: HedgeConfig,
    pub(crate) budget: RetryBudget,
    pub(crate) stats: HedgeStats,
    /// The series reported through the `metrics` facade.
    #[cfg(feature = "metrics")]
    pub(crate) export: crate::export::HedgeExport,
    /// Measured latencies, for a percentile delay only.
    latency: Option<LatencyCore>,
    clock: HotClock,
    /// The budget is the policy's own and counts deposits: its total is
    /// the call count, so a call need not count itself twice.
    calls_in_budget: bool,
}

impl HedgeShared {
    /// Counts an original request, for the metrics and the budget.
    #[inline(always)]
    pub(crate) fn begin(&self) {
        if !self.calls_in_budget {
            self.stats.call();
        }
        self.budget.deposit();
    }

    /// True when answered calls are measured (for a percentile delay).
    #[inline]
    pub(crate) fn measures(&self) -> bool {
        self.latency.is_some()
    }

    /// Counts a call that was answered at `end`, having started at `start`.
    #[inline]
    pub(crate) fn record(&self, start: Instant, end: Instant) {
        if let Some(latency) = &self.latency {
            let now = nanos(end.saturating_duration_since(self.clock.origin()));
            latency.record(now, nanos(end.saturating_duration_since(start)));
        }
    }

    /// How long a call waiting at `now` waits before a backup.
    pub(crate) fn delay(&self, now: Instant) -> Duration {
        match (self.config.delay, &self.latency) {
            (HedgeDelay::Fixed(d), _) => d,
            (
                HedgeDelay::Percentile {
                    p,
                    min,
                    max,
                    fallback,
                },
                Some(latency),
            ) => {
                let now = nanos(now.saturating_duration_since(self.clock.origin()));
                match latency.percentile(now, p, u64::from(self.config.min_samples)) {
                    Some(ns) => Duration::from_nanos(ns).clamp(min, max),
                    None => fallback,
                }
            }
            (HedgeDelay::Percentile { fallback, .. }, None) => fallback,
        }
    }

    fn metrics(&self) -> HedgeMetrics {
        let mut m = self.stats.snapshot();
        if self.calls_in_budget {
            m.calls = self.budget.total_deposits().unwrap_or_default();
        }
        m
    }
}

/// A hedging policy: when to send backup requests ([`HedgeConfig`]) and
/// the [`RetryBudget`] that caps them.
///
/// `HedgePolicy` is a cheap handle; clones share one budget, one latency
/// record and one set of counts. Use it as a tower layer
/// ([`layer`](Self::layer)) or with the plain async helper
/// ([`hedge`](crate::hedge())), and read what it did with
/// [`metrics`](Self::metrics).
///
/// # Cost
///
/// A call counts itself and deposits in the budget (one atomic add on the
/// budget's counter striped by thread, plus one for its own count when the
/// budget is shared), copies its request and clones the
/// inner service (to have a backup ready). Its
/// first attempt is polled before anything else: a call answered on its
/// first poll reads no clock, arms no timer and allocates nothing. A call
/// that is pending reads the clock, computes its delay (a cached
/// percentile, recomputed at most eight times per latency window) and
/// arms one timer, kept inline in the future (no allocation); with a
/// percentile delay it reads the clock again when it answers and records
/// its latency (one atomic add in the histogram). Backups are boxed, and
/// the budget's withdrawal takes a short lock: both only when a backup is
/// due.
///
/// Measure it with `cargo bench -p ballast-benches --bench hedge_path`:
/// a call answered on its first poll costs about what the retry layer's
/// success path does (a count, a budget deposit, the `Arc` count of the
/// service's shared state up and down); a call pending on its first poll
/// adds tokio's timer (registering the entry, cancelling it, and the
/// driver's work while it is armed).
pub struct HedgePolicy {
    pub(crate) shared: Arc<HedgeShared>,
}

impl HedgePolicy {
    /// A policy with a budget of its own as `config` says.
    pub fn new(config: HedgeConfig) -> Self {
        let (budget, own) = match config.budget {
            Some(b) => (RetryBudget::new(b), true),
            None => (RetryBudget::unlimited(), false),
        };
        Self::build(config, budget, own)
    }

    /// A policy drawing its backups from `budget`, which a retry
    /// [`Policy`](crate::Policy) (or another hedging policy) can share, so
    /// that one budget caps all the extra load toward a dependency. Every
    /// call deposits in it, as a retry policy's calls do; the config's own
    /// budget setting is ignored.
    ///
    /// When the same requests pass through both a retry layer and a
    /// hedging layer sharing one budget, give the inner layer's policy
    /// [`budget.without_deposits()`](RetryBudget::without_deposits): the
    /// outer layer deposits each request once, and the inner one, which
    /// sees the outer's retries or backups too, draws without depositing.
    ///
    /// ```
    /// use ballast_retry::{
    ///     BudgetConfig, Config, HedgeConfig, HedgePolicy, Policy, RetryBudget, RetryErrors,
    /// };
    ///
    /// // One budget for all extra load: 10% of requests plus 5 a second.
    /// let budget = RetryBudget::new(
    ///     BudgetConfig::builder().percent(10.0).min_per_second(5).build()?,
    /// );
    /// // Retries outside, hedges inside: only the outer layer deposits.
    /// let retries = Policy::with_budget(Config::default(), RetryErrors, budget.clone());
    /// let hedges = HedgePolicy::with_budget(HedgeConfig::default(), budget.without_deposits());
    /// assert_eq!(hedges.budget().config(), retries.budget().config());
    /// # Ok::<(), ballast_retry::ConfigError>(())
    /// ```
    pub fn with_budget(config: HedgeConfig, budget: RetryBudget) -> Self {
        Self::build(config, budget, false)
    }

    fn build(config: HedgeConfig, budget: RetryBudget, own: bool) -> Self {
        let latency = match config.delay {
            HedgeDelay::Percentile { .. } => Some(LatencyCore::new(nanos(config.latency_window))),
            HedgeDelay::Fixed(_) => None,
        };
        Self {
            shared: Arc::new(HedgeShared {
                #[cfg(feature = "metrics")]
                export: crate::export::HedgeExport::new(&config.name),
                config,
                budget,
                stats: HedgeStats::default(),
                latency,
                clock: HotClock::new(),
                calls_in_budget: own,
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &HedgeConfig {
        &self.shared.config
    }

    /// The budget backups draw from.
    pub fn budget(&self) -> &RetryBudget {
        &self.shared.budget
    }

    /// What the policy has done so far.
    pub fn metrics(&self) -> HedgeMetrics {
        self.shared.metrics()
    }

    /// How long a call starting now would wait before its first backup:
    /// the fixed delay, or the percentile of recent latencies (within its
    /// bounds, or the fallback while too few were measured).
    pub fn current_delay(&self) -> Duration {
        self.shared.delay(Instant::now())
    }

    /// A tower layer applying this policy; every service it wraps shares
    /// the budget, the latencies and the counts.
    pub fn layer(&self) -> HedgeLayer {
        HedgeLayer::new(self.clone())
    }
}

impl Clone for HedgePolicy {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl fmt::Debug for HedgePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgePolicy")
            .field("config", &self.shared.config)
            .field("budget", &self.shared.budget)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

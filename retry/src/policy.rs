//! [`Policy`]: the retry policy and the operator's handle to it.

use crate::backoff::Delays;
use crate::budget::RetryBudget;
use crate::config::Config;
use crate::layer::RetryLayer;
use crate::metrics::{Metrics, Stats};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What every clone of a [`Policy`] and every service built from it share.
///
/// Public in a private module: it appears in public types' bounds, but no
/// one outside the crate can name it.
pub struct Shared<C> {
    pub(crate) config: Config,
    pub(crate) classifier: C,
    pub(crate) budget: RetryBudget,
    pub(crate) stats: Stats,
    /// The series reported through the `metrics` facade.
    #[cfg(feature = "metrics")]
    pub(crate) export: crate::export::Export,
    /// The budget is the policy's own and counts deposits: its total is
    /// the call count, and a call need not count itself twice (each count
    /// is an atomic add on the hot path).
    calls_in_budget: bool,
    /// Calls that have retried so far: picks each one's jitter seed.
    retried_calls: AtomicU64,
}

impl<C> Shared<C> {
    /// Counts an original request, for the metrics and the budget.
    #[inline(always)]
    pub(crate) fn begin(&self) {
        if !self.calls_in_budget {
            self.stats.call();
        }
        self.budget.deposit();
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let mut m = self.stats.snapshot();
        if self.calls_in_budget {
            m.calls = self.budget.total_deposits().unwrap_or_default();
            m.attempts = (m.calls + m.retries).saturating_sub(m.expired);
        }
        m
    }

    /// The delays for a call's retries, made when it first retries.
    pub(crate) fn delays(&self) -> Delays {
        let backoff = &self.config.backoff;
        match self.config.seed {
            Some(seed) => {
                // Relaxed: only picks a distinct seed per call.
                let n = self.retried_calls.fetch_add(1, Ordering::Relaxed);
                backoff.delays_seeded(seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            }
            None => backoff.delays(),
        }
    }
}

/// A retry policy: which results to retry (a
/// [`Classifier`](crate::Classifier)), how often and how long to wait
/// ([`Config`]), and the [`RetryBudget`] that caps the extra load.
///
/// `Policy` is a cheap handle; clones share one budget and one set of
/// counts. Use it as a tower layer ([`layer`](Self::layer)) or with the
/// plain async helper ([`retry`](crate::retry)), and read what it did with
/// [`metrics`](Self::metrics).
pub struct Policy<C> {
    pub(crate) shared: Arc<Shared<C>>,
}

impl<C> Policy<C> {
    /// A policy retrying what `classifier` calls transient, with a budget
    /// of its own as `config` says.
    pub fn new(config: Config, classifier: C) -> Self {
        let (budget, own) = match config.budget {
            Some(b) => (RetryBudget::new(b), true),
            None => (RetryBudget::unlimited(), false),
        };
        Self::build(config, classifier, budget, own)
    }

    /// A policy drawing its retries from `budget`, which other policies
    /// (and other patterns that add load, such as hedging) can share, so
    /// one budget caps all the extra load toward a dependency. The
    /// config's own budget setting is ignored. If this policy's layer sits
    /// inside another layer drawing on the same budget, pass
    /// [`budget.without_deposits()`](RetryBudget::without_deposits) so each
    /// request is deposited once, by the outer layer.
    pub fn with_budget(config: Config, classifier: C, budget: RetryBudget) -> Self {
        Self::build(config, classifier, budget, false)
    }

    fn build(config: Config, classifier: C, budget: RetryBudget, own: bool) -> Self {
        Self {
            shared: Arc::new(Shared {
                #[cfg(feature = "metrics")]
                export: crate::export::Export::new(&config.name, &budget),
                config,
                classifier,
                budget,
                stats: Stats::default(),
                calls_in_budget: own,
                retried_calls: AtomicU64::new(0),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The budget retries draw from.
    pub fn budget(&self) -> &RetryBudget {
        &self.shared.budget
    }

    /// What the policy has done so far.
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// A tower layer applying this policy; every service it wraps shares
    /// the budget and the counts.
    pub fn layer(&self) -> RetryLayer<C> {
        RetryLayer::new(self.clone())
    }
}

impl<C> Clone for Policy<C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<C> fmt::Debug for Policy<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl<C> fmt::Debug for Shared<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("config", &self.config)
            .field("budget", &self.budget)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

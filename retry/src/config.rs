//! The retry policy's settings: a builder that validates into a [`Config`].

use crate::backoff::Backoff;
use crate::budget::BudgetConfig;
use ballast_core::ConfigError;
use std::time::Duration;

const COMPONENT: &str = "retry";

/// Validated settings of a [`Policy`](crate::Policy).
///
/// The default: 3 attempts (2 retries), [`Backoff::default`], no total
/// time limit, 10 ms as the least an attempt needs, and the default
/// [`RetryBudget`](crate::RetryBudget) (20% plus 10 a second).
///
/// ```
/// use ballast_retry::{Backoff, Config};
/// use std::time::Duration;
///
/// let config = Config::builder()
///     .max_attempts(4)
///     .backoff(Backoff::exponential(Duration::from_millis(50)).build()?)
///     .max_total_time(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(config.max_attempts(), 4);
/// assert!(Config::builder().max_attempts(0).build().is_err());
/// # Ok::<(), ballast_retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// What the policy is called in its metrics (`"retry"` unless set).
    pub(crate) name: String,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    /// Stops retrying once this long has passed since the call began
    /// (the first attempt included), like a deadline of the policy's own.
    pub(crate) max_total_time: Option<Duration>,
    /// The least time an attempt is expected to need: a retry is not
    /// started with less than this (or than the last attempt took) left
    /// before the deadline.
    pub(crate) min_attempt_time: Duration,
    /// `None` turns the budget off.
    pub(crate) budget: Option<BudgetConfig>,
    /// Makes the jitter reproducible (tests).
    pub(crate) seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            name: "retry".to_owned(),
            max_attempts: 3,
            backoff: Backoff::default(),
            max_total_time: None,
            min_attempt_time: Duration::from_millis(10),
            budget: Some(BudgetConfig::default()),
            seed: None,
        }
    }
}

impl Config {
    /// A builder starting from the default.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Self::default(),
        }
    }

    /// What the policy is called in its metrics (`"retry"` unless set).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Attempts per call, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delays between attempts.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The longest a call may spend retrying, from its first attempt.
    pub fn max_total_time(&self) -> Option<Duration> {
        self.max_total_time
    }

    /// The least time an attempt is expected to need.
    pub fn min_attempt_time(&self) -> Duration {
        self.min_attempt_time
    }

    /// The settings of the budget the policy makes for itself (`None`:
    /// no budget).
    pub fn budget(&self) -> Option<&BudgetConfig> {
        self.budget.as_ref()
    }

    /// The seed of the jitter, if fixed.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }
}

/// Builds a [`Config`]; [`build`](Self::build) checks the values.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// What the policy is called: the `name` label of its metrics
    /// (feature `metrics`). `"retry"` unless set.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Attempts per call, the first included: 1 never retries. At least 1.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.config.max_attempts = n;
        self
    }

    /// The delays between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// Stops retrying once `limit` has passed since the call began; the
    /// last error is returned. More than zero. Reading the clock at the
    /// start of every call is its cost.
    pub fn max_total_time(mut self, limit: Duration) -> Self {
        self.config.max_total_time = Some(limit);
        self
    }

    /// The least time an attempt is expected to need (10 ms unless set).
    /// With a deadline or a total time limit, a retry starts only if this
    /// much (or as long as the previous attempt took, if more) is left
    /// after its delay; the delay is shortened to fit, and the call gives
    /// up if even no delay would not leave enough.
    pub fn min_attempt_time(mut self, d: Duration) -> Self {
        self.config.min_attempt_time = d;
        self
    }

    /// The budget the policy makes for itself (the default budget unless
    /// set). To share one budget between policies, use
    /// [`Policy::with_budget`](crate::Policy::with_budget).
    pub fn budget(mut self, budget: BudgetConfig) -> Self {
        self.config.budget = Some(budget);
        self
    }

    /// No retry budget: retries are limited only by the attempts, the
    /// time limits and the classifier. A failing dependency can then see
    /// `max_attempts` times its normal load.
    pub fn no_budget(mut self) -> Self {
        self.config.budget = None;
        self
    }

    /// Draws the jitter from `seed`, so the delays are the same on every
    /// run (for tests). The first call that retries uses exactly
    /// `backoff.delays_seeded(seed)`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<Config, ConfigError> {
        let c = self.config;
        if c.max_attempts == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "max_attempts",
                "must be at least 1 (the first attempt counts)",
            ));
        }
        if c.max_total_time == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                COMPONENT,
                "max_total_time",
                "must be more than zero (leave it unset for no limit)",
            ));
        }
        Ok(c)
    }
}

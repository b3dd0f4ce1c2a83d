//! The hedging policy's settings: [`HedgeDelay`] and a builder that
//! validates into a [`HedgeConfig`].

use crate::budget::BudgetConfig;
use ballast_core::{ConfigError, nanos};
use std::time::Duration;

const COMPONENT: &str = "hedge";

/// The most backup requests one call may send.
pub const MAX_HEDGES: u32 = 10;

/// How long a call waits for its first attempt before sending a backup
/// request (and between backups when more than one is allowed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HedgeDelay {
    /// Always this long: simple and predictable, for a dependency whose
    /// latency is known and steady.
    Fixed(Duration),
    /// A percentile of the latencies the policy measured recently (the
    /// `p`-th, in `(0, 100]`), kept within `[min, max]`. Measured are the
    /// calls that could be hedged: those whose first attempt was pending
    /// when first polled, from that poll to their answer (a call answered
    /// at once, a cache hit say, is not a sample). Until enough
    /// calls have been measured ([`min_samples`](HedgeConfigBuilder::min_samples)
    /// in the current and previous
    /// [`latency_window`](HedgeConfigBuilder::latency_window)) the delay is
    /// `fallback`. Hedging at the 95th percentile sends a backup for about
    /// one call in twenty and cuts the tail those calls would have had.
    Percentile {
        /// The percentile, in `(0, 100]` (95 is the 95th).
        p: f64,
        /// The shortest delay, whatever the measurements say.
        min: Duration,
        /// The longest delay, whatever the measurements say.
        max: Duration,
        /// The delay until enough latencies have been measured.
        fallback: Duration,
    },
}

/// A percentile delay's bounds and fallback unless set.
pub(crate) const DEFAULT_MIN: Duration = Duration::from_millis(1);
pub(crate) const DEFAULT_MAX: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_FALLBACK: Duration = Duration::from_millis(100);

impl HedgeDelay {
    /// The `p`-th percentile of recent latencies, between 1 ms and 10 s,
    /// and 100 ms until enough calls have been measured.
    pub fn percentile(p: f64) -> Self {
        Self::Percentile {
            p,
            min: DEFAULT_MIN,
            max: DEFAULT_MAX,
            fallback: DEFAULT_FALLBACK,
        }
    }
}

/// Validated settings of a [`HedgePolicy`](crate::HedgePolicy).
///
/// The default: hedge at the 95th percentile of recent latencies
/// ([`HedgeDelay::percentile`]), at most one backup per call, 10 ms as the
/// least time an attempt needs before the call's deadline, and a hedge
/// budget of its own: 10% extra load plus 1 hedge a second, over 10 s.
///
/// ```
/// use ballast_retry::{HedgeConfig, HedgeDelay};
/// use std::time::Duration;
///
/// let config = HedgeConfig::builder()
///     .delay(HedgeDelay::Fixed(Duration::from_millis(50)))
///     .max_hedges(2)
///     .build()?;
/// assert_eq!(config.max_hedges(), 2);
/// assert!(HedgeConfig::builder().max_hedges(0).build().is_err());
/// # Ok::<(), ballast_retry::ConfigError>(())
/// ```
///
/// With feature `serde` it is `Deserialize`, checked like the builder's
/// (an invalid value or an unknown field is an error); every field is
/// optional. `delay` is a duration (a fixed delay, `"50ms"`) or a map
/// with the percentile and optional `min`, `max` and `fallback`;
/// `budget` is `"off"` or a map whose missing fields keep the hedge
/// budget's defaults:
///
/// ```json
/// {
///     "delay": { "percentile": 95, "min": "5ms", "max": "2s", "fallback": "100ms" },
///     "max_hedges": 1,
///     "min_attempt_time": "10ms",
///     "budget": { "percent": 10, "min_per_second": 1, "window": "10s" },
///     "min_samples": 50,
///     "latency_window": "10s"
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HedgeConfig {
    /// What the policy is called in its metrics (`"hedge"` unless set).
    pub(crate) name: String,
    pub(crate) delay: HedgeDelay,
    /// Backups per call at most; each waits the delay after the last.
    pub(crate) max_hedges: u32,
    /// A backup is not sent with less than this left before the deadline:
    /// it could not answer in time and would only add load.
    pub(crate) min_attempt_time: Duration,
    /// `None` turns the hedge budget off.
    pub(crate) budget: Option<BudgetConfig>,
    /// Latencies needed before a percentile delay replaces its fallback.
    pub(crate) min_samples: u32,
    /// How long a measured latency counts (between one and two windows).
    pub(crate) latency_window: Duration,
}

/// The default hedge budget: 10% extra load plus 1 hedge a second, over
/// 10 s in 10 buckets.
pub(crate) fn default_budget() -> BudgetConfig {
    BudgetConfig::builder()
        .percent(10.0)
        .min_per_second(1)
        .build()
        .unwrap_or_default()
}

impl Default for HedgeConfig {
    /// The 95th percentile, one backup, 10 ms per attempt, 10% plus 1 a
    /// second (see [`HedgeConfig`]).
    fn default() -> Self {
        Self {
            name: "hedge".to_owned(),
            delay: HedgeDelay::percentile(95.0),
            max_hedges: 1,
            min_attempt_time: Duration::from_millis(10),
            budget: Some(default_budget()),
            min_samples: 50,
            latency_window: Duration::from_secs(10),
        }
    }
}

impl HedgeConfig {
    /// A builder starting from the default.
    pub fn builder() -> HedgeConfigBuilder {
        HedgeConfigBuilder {
            config: Self::default(),
        }
    }

    /// What the policy is called in its metrics (`"hedge"` unless set).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When backups are sent.
    pub fn delay(&self) -> HedgeDelay {
        self.delay
    }

    /// Backups per call at most.
    pub fn max_hedges(&self) -> u32 {
        self.max_hedges
    }

    /// The least time a backup needs before the call's deadline.
    pub fn min_attempt_time(&self) -> Duration {
        self.min_attempt_time
    }

    /// The settings of the budget the policy makes for itself (`None`:
    /// no budget).
    pub fn budget(&self) -> Option<&BudgetConfig> {
        self.budget.as_ref()
    }

    /// Latencies needed before a percentile delay replaces its fallback.
    pub fn min_samples(&self) -> u32 {
        self.min_samples
    }

    /// How long a measured latency counts.
    pub fn latency_window(&self) -> Duration {
        self.latency_window
    }
}

/// Builds a [`HedgeConfig`]; [`build`](Self::build) checks the values.
#[derive(Debug, Clone)]
pub struct HedgeConfigBuilder {
    config: HedgeConfig,
}

impl HedgeConfigBuilder {
    /// What the policy is called: the `name` label of its metrics
    /// (feature `metrics`). `"hedge"` unless set.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// When backups are sent (see [`HedgeDelay`]).
    pub fn delay(mut self, delay: HedgeDelay) -> Self {
        self.config.delay = delay;
        self
    }

    /// Backups per call at most, 1 to [`MAX_HEDGES`] (default 1). The
    /// second waits the delay again after the first, and so on; the budget
    /// is asked before each.
    pub fn max_hedges(mut self, n: u32) -> Self {
        self.config.max_hedges = n;
        self
    }

    /// The least time a backup is expected to need (default 10 ms): none
    /// is sent with less than this left before the call's deadline.
    pub fn min_attempt_time(mut self, d: Duration) -> Self {
        self.config.min_attempt_time = d;
        self
    }

    /// The hedge budget the policy makes for itself (default: 10% plus 1
    /// a second over 10 s). To share one budget with a retry policy, use
    /// [`HedgePolicy::with_budget`](crate::HedgePolicy::with_budget).
    pub fn budget(mut self, budget: BudgetConfig) -> Self {
        self.config.budget = Some(budget);
        self
    }

    /// No hedge budget: every call that waits the delay sends its backups,
    /// so a slow dependency sees up to `1 + max_hedges` times the load.
    /// Choose this knowingly.
    pub fn no_budget(mut self) -> Self {
        self.config.budget = None;
        self
    }

    /// Latencies needed (in the current and previous window) before a
    /// percentile delay replaces its fallback; at least 1 (default 50).
    pub fn min_samples(mut self, n: u32) -> Self {
        self.config.min_samples = n;
        self
    }

    /// How long a measured latency counts toward a percentile delay: the
    /// measurements of the current window and the one before it are used,
    /// so a latency counts for between one and two windows. At least 1 ms
    /// (default 10 s).
    pub fn latency_window(mut self, window: Duration) -> Self {
        self.config.latency_window = window;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<HedgeConfig, ConfigError> {
        let c = self.config;
        check_delay(c.delay)?;
        if c.max_hedges == 0 || c.max_hedges > MAX_HEDGES {
            return Err(ConfigError::new(
                COMPONENT,
                "max_hedges",
                format!("must be in [1, {MAX_HEDGES}], got {}", c.max_hedges),
            ));
        }
        if c.min_samples == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "min_samples",
                "must be at least 1",
            ));
        }
        if c.latency_window < Duration::from_millis(1) {
            return Err(ConfigError::new(
                COMPONENT,
                "latency_window",
                format!("must be at least 1ms, got {:?}", c.latency_window),
            ));
        }
        Ok(c)
    }
}

fn check_delay(delay: HedgeDelay) -> Result<(), ConfigError> {
    match delay {
        HedgeDelay::Fixed(d) if d.is_zero() => Err(ConfigError::new(
            COMPONENT,
            "delay",
            "must be more than zero (a zero delay doubles every call's load)",
        )),
        HedgeDelay::Fixed(_) => Ok(()),
        HedgeDelay::Percentile {
            p,
            min,
            max,
            fallback,
        } => {
            if !(p > 0.0 && p <= 100.0) {
                return Err(ConfigError::new(
                    COMPONENT,
                    "delay.p",
                    format!("must be in (0, 100], got {p}"),
                ));
            }
            if max.is_zero() || min > max {
                return Err(ConfigError::new(
                    COMPONENT,
                    "delay.max",
                    format!("must be more than zero and at least min ({min:?}), got {max:?}"),
                ));
            }
            if fallback.is_zero() || nanos(fallback) == u64::MAX {
                return Err(ConfigError::new(
                    COMPONENT,
                    "delay.fallback",
                    format!("must be more than zero and finite, got {fallback:?}"),
                ));
            }
            Ok(())
        }
    }
}

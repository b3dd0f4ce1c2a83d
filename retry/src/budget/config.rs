//! [`BudgetConfig`]: the budget's settings, validated by a builder.

use super::core::BudgetCore;
use ballast_core::{ConfigError, nanos};
use std::time::Duration;

const COMPONENT: &str = "retry budget";

/// The most buckets a budget's window may have.
pub const MAX_BUCKETS: u32 = 1000;

/// Validated settings of a [`RetryBudget`](crate::RetryBudget).
///
/// ```
/// use ballast_retry::BudgetConfig;
/// use std::time::Duration;
///
/// let config = BudgetConfig::builder()
///     .percent(10.0)
///     .min_per_second(5)
///     .window(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(config.percent(), 10.0);
/// assert!(BudgetConfig::builder().percent(f64::NAN).build().is_err());
/// # Ok::<(), ballast_retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    percent: f64,
    min_per_second: u32,
    window: Duration,
    buckets: u32,
}

impl Default for BudgetConfig {
    /// Finagle's default: 20% plus 10 a second over 10 s (in 10 buckets).
    fn default() -> Self {
        Self {
            percent: 20.0,
            min_per_second: 10,
            window: Duration::from_secs(10),
            buckets: 10,
        }
    }
}

impl BudgetConfig {
    /// A builder starting from the default.
    pub fn builder() -> BudgetConfigBuilder {
        BudgetConfigBuilder {
            config: Self::default(),
        }
    }

    /// Retries allowed as a percentage of original requests.
    pub fn percent(&self) -> f64 {
        self.percent
    }

    /// Retries allowed per second of window whatever the traffic.
    pub fn min_per_second(&self) -> u32 {
        self.min_per_second
    }

    /// How far back deposits and withdrawals count.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// How many steps the window slides in.
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    pub(crate) fn core(&self) -> BudgetCore {
        let window = nanos(self.window);
        let bucket_nanos = window / u64::from(self.buckets);
        // `percent` has been checked to lie in [0, 1000].
        let permille = (self.percent * 10.0).round() as u64;
        let reserve =
            u64::try_from(u128::from(self.min_per_second) * u128::from(window) / 1_000_000_000)
                .unwrap_or(u64::MAX);
        BudgetCore::new(bucket_nanos, self.buckets, permille, reserve)
    }
}

/// Builds a [`BudgetConfig`]; [`build`](Self::build) checks the values.
#[derive(Debug, Clone)]
pub struct BudgetConfigBuilder {
    config: BudgetConfig,
}

impl BudgetConfigBuilder {
    /// Retries allowed as a percentage of original requests, in
    /// `[0, 1000]` with a resolution of 0.1 (20 means one retry per five
    /// requests).
    pub fn percent(mut self, percent: f64) -> Self {
        self.config.percent = percent;
        self
    }

    /// Retries allowed per second whatever the traffic, so a quiet
    /// service can still retry. Counted over the window: 10 a second over
    /// 10 s is a reserve of 100 retries per window.
    pub fn min_per_second(mut self, n: u32) -> Self {
        self.config.min_per_second = n;
        self
    }

    /// How far back deposits and withdrawals count; more than zero.
    pub fn window(mut self, window: Duration) -> Self {
        self.config.window = window;
        self
    }

    /// How many steps the window slides in, 1 to [`MAX_BUCKETS`]: a
    /// request leaves the window between `window * (1 - 1/buckets)` and
    /// `window` after it was made. Each bucket may also spend at most the
    /// percentage of its own requests plus the reserve, so more buckets
    /// spread the retries of a burst of failures more evenly.
    pub fn buckets(mut self, buckets: u32) -> Self {
        self.config.buckets = buckets;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<BudgetConfig, ConfigError> {
        let c = self.config;
        if !(0.0..=1000.0).contains(&c.percent) {
            return Err(ConfigError::new(
                COMPONENT,
                "percent",
                format!("must be in [0, 1000], got {}", c.percent),
            ));
        }
        if c.window.is_zero() {
            return Err(ConfigError::new(
                COMPONENT,
                "window",
                "must be more than zero",
            ));
        }
        if c.buckets == 0 || c.buckets > MAX_BUCKETS {
            return Err(ConfigError::new(
                COMPONENT,
                "buckets",
                format!("must be in [1, {MAX_BUCKETS}], got {}", c.buckets),
            ));
        }
        if nanos(c.window) < u64::from(c.buckets) {
            return Err(ConfigError::new(
                COMPONENT,
                "buckets",
                "must not outnumber the window's nanoseconds",
            ));
        }
        Ok(c)
    }
}

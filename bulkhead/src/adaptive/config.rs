//! [`AdaptiveConfig`] and its [`AdaptiveConfigBuilder`]: validated
//! settings, and the choice of [`Algorithm`].

use super::aimd::Aimd;
use super::gradient2::Gradient2;
use super::vegas::Vegas;
use ballast_core::ConfigError;
use std::borrow::Cow;

const COMPONENT: &str = "adaptive limiter";

/// The largest limit a limiter can hold (its admission word keeps the limit
/// and the calls in flight in 32 bits each).
pub const MAX_LIMIT: u32 = 1 << 30;

/// Which shipped algorithm moves the limit, with its settings.
///
/// For an algorithm of your own, implement
/// [`LimitAlgorithm`](super::LimitAlgorithm) and use
/// [`AdaptiveLimiter::with_algorithm`](super::AdaptiveLimiter::with_algorithm).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Algorithm {
    /// Loss-driven: additive increase, multiplicative decrease on drops.
    Aimd(Aimd),
    /// Latency-driven: keeps a short estimated queue (the default).
    Vegas(Vegas),
    /// Latency-driven: scales the limit by the round trip's rise.
    Gradient2(Gradient2),
}

impl Default for Algorithm {
    fn default() -> Self {
        Algorithm::Vegas(Vegas::default())
    }
}

impl From<Aimd> for Algorithm {
    fn from(a: Aimd) -> Self {
        Algorithm::Aimd(a)
    }
}

impl From<Vegas> for Algorithm {
    fn from(v: Vegas) -> Self {
        Algorithm::Vegas(v)
    }
}

impl From<Gradient2> for Algorithm {
    fn from(g: Gradient2) -> Self {
        Algorithm::Gradient2(g)
    }
}

/// A validated adaptive-limiter configuration.
///
/// Built with [`AdaptiveConfig::builder`]; every value a builder accepts is
/// valid.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveConfig {
    pub(crate) name: Cow<'static, str>,
    pub(crate) initial_limit: u32,
    pub(crate) min_limit: u32,
    pub(crate) max_limit: u32,
    pub(crate) min_window_samples: u32,
    pub(crate) shadow: bool,
    pub(crate) algorithm: Algorithm,
}

impl AdaptiveConfig {
    /// A builder with the defaults: [`Vegas`], limit starting at 20 and
    /// kept within 1..=1000, a window every round trip (one limit's
    /// worth of calls, at least 4), enforcing.
    pub fn builder() -> AdaptiveConfigBuilder {
        AdaptiveConfigBuilder::default()
    }

    /// The name in `tracing` events.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The limit before any call has been measured.
    pub fn initial_limit(&self) -> u32 {
        self.initial_limit
    }

    /// The limit never goes below this.
    pub fn min_limit(&self) -> u32 {
        self.min_limit
    }

    /// The limit never goes above this.
    pub fn max_limit(&self) -> u32 {
        self.max_limit
    }

    /// How many finished calls make a window (one algorithm update).
    pub fn min_window_samples(&self) -> u32 {
        self.min_window_samples
    }

    /// Whether the limiter only records what it would refuse.
    pub fn shadow(&self) -> bool {
        self.shadow
    }

    /// The algorithm and its settings.
    pub fn algorithm(&self) -> &Algorithm {
        &self.algorithm
    }
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig::builder()
            .build()
            .expect("the defaults are valid")
    }
}

/// Builds an [`AdaptiveConfig`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct AdaptiveConfigBuilder {
    name: Cow<'static, str>,
    initial_limit: Option<u32>,
    min_limit: u32,
    max_limit: u32,
    min_window_samples: u32,
    shadow: bool,
    algorithm: Algorithm,
}

/// The initial limit when none is set (kept within the bounds).
const DEFAULT_INITIAL_LIMIT: u32 = 20;

impl Default for AdaptiveConfigBuilder {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("adaptive"),
            initial_limit: None,
            min_limit: 1,
            max_limit: 1000,
            min_window_samples: 4,
            shadow: false,
            algorithm: Algorithm::default(),
        }
    }
}

impl AdaptiveConfigBuilder {
    /// The name in `tracing` events (default `"adaptive"`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The limit before any call has been measured (default 20, moved
    /// within the bounds if they exclude it; set, it must be within
    /// `min_limit..=max_limit`).
    pub fn initial_limit(mut self, n: u32) -> Self {
        self.initial_limit = Some(n);
        self
    }

    /// The lowest the limit may go (default 1; must be at least 1). Keep it
    /// low: the limit should be free to follow a dependency that slows.
    pub fn min_limit(mut self, n: u32) -> Self {
        self.min_limit = n;
        self
    }

    /// The highest the limit may go (default 1000; at most [`MAX_LIMIT`]).
    /// A cap on what the algorithm may believe, whatever it measures.
    pub fn max_limit(mut self, n: u32) -> Self {
        self.max_limit = n;
        self
    }

    /// The fewest finished calls that make a window, the unit the
    /// algorithm decides on (default 4; must be at least 1). A window is
    /// one limit's worth of calls (every slot used once: about one round
    /// trip), or this many if the limit is lower; more averages out noise
    /// at low limits and moves the limit less often.
    pub fn min_window_samples(mut self, n: u32) -> Self {
        self.min_window_samples = n;
        self
    }

    /// Shadow mode (default off): decide and record as if enforcing, but
    /// admit every call; the snapshot counts the calls that would have been
    /// refused. For tuning on live traffic before enforcing.
    pub fn shadow(mut self, on: bool) -> Self {
        self.shadow = on;
        self
    }

    /// The algorithm that moves the limit (default [`Vegas`] with its
    /// defaults).
    pub fn algorithm(mut self, algorithm: impl Into<Algorithm>) -> Self {
        self.algorithm = algorithm.into();
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<AdaptiveConfig, ConfigError> {
        if self.min_limit == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "min_limit",
                "must be at least 1, got 0",
            ));
        }
        if self.max_limit > MAX_LIMIT {
            return Err(ConfigError::new(
                COMPONENT,
                "max_limit",
                format!("must be at most {MAX_LIMIT}, got {}", self.max_limit),
            ));
        }
        if self.max_limit < self.min_limit {
            return Err(ConfigError::new(
                COMPONENT,
                "max_limit",
                format!(
                    "must be at least min_limit ({}), got {}",
                    self.min_limit, self.max_limit
                ),
            ));
        }
        let initial_limit = self
            .initial_limit
            .unwrap_or(DEFAULT_INITIAL_LIMIT.clamp(self.min_limit, self.max_limit));
        if !(self.min_limit..=self.max_limit).contains(&initial_limit) {
            return Err(ConfigError::new(
                COMPONENT,
                "initial_limit",
                format!(
                    "must be within {}..={}, got {initial_limit}",
                    self.min_limit, self.max_limit
                ),
            ));
        }
        if self.min_window_samples == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "min_window_samples",
                "must be at least 1, got 0",
            ));
        }
        Ok(AdaptiveConfig {
            name: self.name,
            initial_limit,
            min_limit: self.min_limit,
            max_limit: self.max_limit,
            min_window_samples: self.min_window_samples,
            shadow: self.shadow,
            algorithm: self.algorithm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_use_vegas() {
        let c = AdaptiveConfig::default();
        assert_eq!(
            (c.initial_limit(), c.min_limit(), c.max_limit()),
            (20, 1, 1000)
        );
        assert!(matches!(c.algorithm(), Algorithm::Vegas(_)));
    }

    #[test]
    fn bounds_that_do_not_hold_together_are_config_errors() {
        let b = AdaptiveConfig::builder;
        let field = |r: Result<AdaptiveConfig, ConfigError>| r.unwrap_err().field().to_owned();
        assert_eq!(field(b().min_limit(0).build()), "min_limit");
        assert_eq!(field(b().min_limit(10).max_limit(5).build()), "max_limit");
        assert_eq!(field(b().max_limit(MAX_LIMIT + 1).build()), "max_limit");
        assert_eq!(field(b().initial_limit(0).build()), "initial_limit");
        assert_eq!(field(b().initial_limit(2000).build()), "initial_limit");
        assert_eq!(
            field(b().min_window_samples(0).build()),
            "min_window_samples"
        );
        let err = b().min_limit(0).build().unwrap_err();
        assert_eq!(err.component(), COMPONENT);
    }
}

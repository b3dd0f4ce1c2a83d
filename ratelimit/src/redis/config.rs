//! The Redis limiter's settings: a builder that validates into a
//! [`RedisConfig`].

use crate::config::Config;
use crate::quota::{COMPONENT, Quota};
use ballast_circuit_breaker::{Config as BreakerConfig, SlidingWindow};
use ballast_core::ConfigError;
use std::num::NonZeroU32;
use std::time::Duration;

/// What a check does when Redis cannot decide it: Redis is down, slow
/// past the timeout, or the breaker in front of it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Fallback {
    /// Admit every request: availability over the limit (the usual choice
    /// when the limit protects against abuse rather than overload).
    #[default]
    FailOpen,
    /// Refuse every request with a [`Rejected`](crate::Rejected): the limit
    /// over availability (a paid quota that must never be exceeded).
    FailClosed,
    /// Limit locally, in this instance, at its share of the shared limit:
    /// the rate divided by `instances` (the number of instances expected to
    /// share it) and the burst divided likewise, rounded up. Together the
    /// instances then admit about the shared limit.
    Local {
        /// How many instances share the limit (at least 1).
        instances: u32,
    },
}

/// A validated Redis limiter configuration; build one with
/// [`RedisConfig::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct RedisConfig {
    pub(crate) name: String,
    pub(crate) quota: Quota,
    /// `burst × interval`, ns: the script's `W`.
    pub(crate) window: u64,
    pub(crate) key_prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) fallback: Fallback,
    /// The local limiter's share and config when `fallback` is `Local`.
    pub(crate) local: Option<(Quota, Config)>,
    pub(crate) shadow: bool,
    pub(crate) breaker: BreakerConfig,
}

impl RedisConfig {
    /// A builder; a rate (`rate` or `quota`) is required.
    pub fn builder() -> RedisConfigBuilder {
        RedisConfigBuilder::default()
    }

    /// The name used in tracing events and the default key prefix.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shared rate and burst, per key.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// What every Redis key of this limiter starts with.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// How long a check waits for Redis before the fallback decides.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// What decides when Redis cannot.
    pub fn fallback(&self) -> Fallback {
        self.fallback
    }

    /// The quota of the local fallback limiter, if the fallback is local.
    pub fn local_quota(&self) -> Option<Quota> {
        self.local.as_ref().map(|(q, _)| *q)
    }

    /// Whether the limiter only records its decisions and admits everything.
    pub fn shadow(&self) -> bool {
        self.shadow
    }

    /// The circuit breaker in front of Redis.
    pub fn breaker(&self) -> &BreakerConfig {
        &self.breaker
    }
}

/// Builds a [`RedisConfig`]; every value is checked in [`build`](Self::build).
///
/// ```
/// use ballast_ratelimit::redis::{Fallback, RedisConfig};
/// use std::time::Duration;
///
/// let config = RedisConfig::builder()
///     .name("api")
///     .rate(100, Duration::from_secs(1))
///     .burst(20)
///     .timeout(Duration::from_millis(20))
///     .fallback(Fallback::Local { instances: 4 })
///     .build()?;
/// assert_eq!(config.key_prefix(), "ballast:ratelimit:api:");
/// // Each of the 4 instances limits at a quarter of the rate when Redis is down.
/// assert_eq!(config.local_quota().unwrap().burst().get(), 5);
/// assert!(RedisConfig::builder().rate(0, Duration::from_secs(1)).build().is_err());
/// assert!(RedisConfig::builder().rate(5, Duration::from_secs(1)).key_prefix("").build().is_err());
/// # Ok::<(), ballast_ratelimit::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RedisConfigBuilder {
    name: Option<String>,
    rate: Option<RawRate>,
    burst: Option<u32>,
    key_prefix: Option<String>,
    timeout: Option<Duration>,
    fallback: Fallback,
    shadow: bool,
    breaker: Option<BreakerConfig>,
}

#[derive(Debug, Clone)]
enum RawRate {
    Rate(u32, Duration),
    Quota(Quota),
}

/// The default time a check waits for Redis.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

impl RedisConfigBuilder {
    /// The name used in tracing events (default `"ratelimit"`); the default
    /// key prefix is `ballast:ratelimit:<name>:`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// GCRA at `cells` per `per`, burst `cells` unless [`burst`](Self::burst) is set.
    pub fn rate(mut self, cells: u32, per: Duration) -> Self {
        self.rate = Some(RawRate::Rate(cells, per));
        self
    }

    /// GCRA with this quota.
    pub fn quota(mut self, quota: Quota) -> Self {
        self.rate = Some(RawRate::Quota(quota));
        self
    }

    /// Cells admitted back to back from idle.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// What every Redis key of this limiter starts with; the limiter key
    /// follows it. Two limiters with different quotas must not share a
    /// prefix. Must not be empty.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }

    /// How long a check waits for Redis before the fallback decides
    /// (default [`DEFAULT_TIMEOUT`]). Must not be zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// What decides when Redis cannot (default [`Fallback::FailOpen`]).
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// Shadow mode: decide and record as if enforcing, admit everything.
    pub fn shadow(mut self, shadow: bool) -> Self {
        self.shadow = shadow;
        self
    }

    /// The circuit breaker in front of Redis. The default opens when half
    /// of the last 20 calls (at least 5) failed or timed out, stays open
    /// 1 s, then lets one probe through.
    pub fn breaker(mut self, breaker: BreakerConfig) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Checks every value and returns the config.
    pub fn build(self) -> Result<RedisConfig, ConfigError> {
        let burst = match self.burst {
            Some(b) => Some(
                NonZeroU32::new(b)
                    .ok_or_else(|| ConfigError::new(COMPONENT, "burst", "must be at least 1"))?,
            ),
            None => None,
        };
        let quota = match self.rate {
            None => {
                return Err(ConfigError::new(
                    COMPONENT,
                    "rate",
                    "is required (rate or quota)",
                ));
            }
            Some(RawRate::Rate(cells, per)) => Quota::new(cells, per)?,
            Some(RawRate::Quota(q)) => q,
        };
        let quota = burst.map_or(quota, |b| quota.allow_burst(b));
        let window = quota.validate()?;
        if quota.interval < 1_000 {
            return Err(ConfigError::new(
                COMPONENT,
                "rate",
                format!(
                    "one cell every {:?} is finer than Redis's clock (1µs)",
                    quota.emission_interval()
                ),
            ));
        }
        let name = self.name.unwrap_or_else(|| "ratelimit".to_owned());
        let key_prefix = self
            .key_prefix
            .unwrap_or_else(|| format!("ballast:ratelimit:{name}:"));
        if key_prefix.is_empty() {
            return Err(ConfigError::new(
                COMPONENT,
                "key_prefix",
                "must not be empty (keys would collide with other data in Redis)",
            ));
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(ConfigError::new(
                COMPONENT,
                "timeout",
                "must be above zero (every Redis call would time out)",
            ));
        }
        let local = match self.fallback {
            Fallback::Local { instances } => Some(local_config(&name, quota, instances)?),
            _ => None,
        };
        let breaker = match self.breaker {
            Some(b) => b,
            None => BreakerConfig::builder()
                .name(format!("{name}-redis"))
                .sliding_window(SlidingWindow::count(20))
                .minimum_calls(5)
                .failure_rate_threshold(50.0)
                .wait_in_open(Duration::from_secs(1))
                .half_open_permits(1)
                .build()?,
        };
        Ok(RedisConfig {
            name,
            quota,
            window,
            key_prefix,
            timeout,
            fallback: self.fallback,
            local,
            shadow: self.shadow,
            breaker,
        })
    }
}

/// One instance's share of `quota`: `instances` times the interval, the
/// burst divided by `instances` rounded up (at least 1).
fn local_config(name: &str, quota: Quota, instances: u32) -> Result<(Quota, Config), ConfigError> {
    let Some(instances) = NonZeroU32::new(instances) else {
        return Err(ConfigError::new(
            COMPONENT,
            "fallback.instances",
            "must be at least 1",
        ));
    };
    let interval = quota
        .interval
        .checked_mul(u64::from(instances.get()))
        .ok_or_else(|| {
            ConfigError::new(
                COMPONENT,
                "fallback.instances",
                "the local share's interval overflows",
            )
        })?;
    let burst = quota.burst.get().div_ceil(instances.get());
    let share = Quota::with_period(std::time::Duration::from_nanos(interval))?
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
    let config = Config::builder()
        .name(format!("{name}-local"))
        .quota(share)
        .build()?;
    Ok((share, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RedisConfigBuilder {
        RedisConfig::builder().rate(10, Duration::from_secs(1))
    }

    #[test]
    fn invalid_values_name_their_field() {
        let field = |b: RedisConfigBuilder| b.build().unwrap_err().field().to_owned();
        assert_eq!(field(RedisConfig::builder()), "rate");
        assert_eq!(
            field(RedisConfig::builder().rate(0, Duration::from_secs(1))),
            "rate"
        );
        assert_eq!(field(base().burst(0)), "burst");
        assert_eq!(
            field(
                RedisConfig::builder()
                    .rate(1, Duration::from_secs(3600))
                    .burst(u32::MAX)
            ),
            "burst"
        );
        assert_eq!(
            field(RedisConfig::builder().rate(2_000_000, Duration::from_secs(1))),
            "rate"
        );
        assert_eq!(field(base().key_prefix("")), "key_prefix");
        assert_eq!(field(base().timeout(Duration::ZERO)), "timeout");
        assert_eq!(
            field(base().fallback(Fallback::Local { instances: 0 })),
            "fallback.instances"
        );
    }

    #[test]
    fn local_share_divides_rate_and_burst() {
        let c = base()
            .burst(10)
            .fallback(Fallback::Local { instances: 3 })
            .build()
            .unwrap();
        let q = c.local_quota().unwrap();
        assert_eq!(q.emission_interval(), Duration::from_millis(300));
        assert_eq!(q.burst().get(), 4);
        assert_eq!(base().build().unwrap().local_quota(), None);
    }

    #[test]
    fn defaults_are_named_after_the_limiter() {
        let c = base().name("api").build().unwrap();
        assert_eq!(c.key_prefix(), "ballast:ratelimit:api:");
        assert_eq!(c.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(c.fallback(), Fallback::FailOpen);
        assert_eq!(c.breaker().name(), "api-redis");
        assert!(!c.shadow());
    }
}

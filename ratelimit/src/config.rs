//! The limiter's settings: a builder that validates into a [`Config`].

use crate::quota::{COMPONENT, Quota};
use crate::window::{MAX_SLIDING_LIMIT, Window};
use ballast_core::ConfigError;
use std::borrow::Cow;
use std::num::NonZeroU32;
use std::time::Duration;

/// Which algorithm limits, and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// GCRA: a sustained rate with a burst (a token bucket, exactly).
    Gcra(Quota),
    /// At most `limit` per aligned window; resets at each boundary.
    FixedWindow(Window),
    /// The sliding window counter (at most [`MAX_SLIDING_LIMIT`] per window).
    SlidingWindow(Window),
}

/// What a limiter does with a request that does not fit now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Refuse at once with a [`Rejected`](crate::Rejected) carrying the
    /// exact time until the request would fit.
    #[default]
    Reject,
    /// Wait until it fits, if that is within `max_wait` and before the
    /// task's [`Deadline`](ballast_deadline::Deadline); refuse otherwise.
    Wait {
        /// The longest a request may wait for its cells.
        max_wait: Duration,
    },
}

/// A validated limiter configuration. Build one with [`Config::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) name: Cow<'static, str>,
    pub(crate) limit: Limit,
    pub(crate) mode: Mode,
    pub(crate) shadow: bool,
}

impl Config {
    /// A builder; a limit (`rate`, `quota`, `fixed_window` or
    /// `sliding_window`) is required.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The name used in tracing events.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The algorithm and its limit.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Reject or wait.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether the limiter only records its decisions and admits everything.
    pub fn shadow(&self) -> bool {
        self.shadow
    }
}

/// Builds a [`Config`]; every value is checked in [`build`](Self::build).
///
/// ```
/// use ballast_ratelimit::{Config, Mode};
/// use std::time::Duration;
///
/// let config = Config::builder()
///     .name("search")
///     .rate(100, Duration::from_secs(1))
///     .burst(20)
///     .max_wait(Duration::from_millis(50))
///     .build()?;
/// assert_eq!(config.mode(), Mode::Wait { max_wait: Duration::from_millis(50) });
/// assert!(Config::builder().rate(0, Duration::from_secs(1)).build().is_err());
/// assert!(Config::builder().rate(5, Duration::from_secs(1)).burst(0).build().is_err());
/// # Ok::<(), ballast_ratelimit::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    name: Option<Cow<'static, str>>,
    limit: Option<RawLimit>,
    burst: Option<u32>,
    mode: Mode,
    shadow: bool,
}

#[derive(Debug, Clone)]
enum RawLimit {
    Rate(u32, Duration),
    Quota(Quota),
    Fixed(u32, Duration),
    Sliding(u32, Duration),
}

impl ConfigBuilder {
    /// The name used in tracing events (default `"ratelimit"`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// GCRA at `cells` per `per`, burst `cells` unless [`burst`](Self::burst) is set.
    pub fn rate(mut self, cells: u32, per: Duration) -> Self {
        self.limit = Some(RawLimit::Rate(cells, per));
        self
    }

    /// GCRA with this quota.
    pub fn quota(mut self, quota: Quota) -> Self {
        self.limit = Some(RawLimit::Quota(quota));
        self
    }

    /// The GCRA burst: cells admitted back to back from idle.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// A fixed window: at most `limit` per aligned `window`.
    pub fn fixed_window(mut self, limit: u32, window: Duration) -> Self {
        self.limit = Some(RawLimit::Fixed(limit, window));
        self
    }

    /// A sliding window counter: about `limit` per any `window`.
    pub fn sliding_window(mut self, limit: u32, window: Duration) -> Self {
        self.limit = Some(RawLimit::Sliding(limit, window));
        self
    }

    /// Wait up to `max_wait` for cells instead of refusing at once.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.mode = Mode::Wait { max_wait };
        self
    }

    /// Reject or wait (the default is [`Mode::Reject`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Shadow mode: decide and record as if enforcing, admit everything.
    pub fn shadow(mut self, shadow: bool) -> Self {
        self.shadow = shadow;
        self
    }

    /// Checks every value and returns the config.
    pub fn build(self) -> Result<Config, ConfigError> {
        let burst = match self.burst {
            Some(b) => Some(
                NonZeroU32::new(b)
                    .ok_or_else(|| ConfigError::new(COMPONENT, "burst", "must be at least 1"))?,
            ),
            None => None,
        };
        let limit = match self.limit {
            None => {
                return Err(ConfigError::new(
                    COMPONENT,
                    "limit",
                    "is required (rate, quota, fixed_window or sliding_window)",
                ));
            }
            Some(RawLimit::Rate(cells, per)) => {
                let q = Quota::new(cells, per)?;
                Limit::Gcra(burst.map_or(q, |b| q.allow_burst(b)))
            }
            Some(RawLimit::Quota(q)) => Limit::Gcra(burst.map_or(q, |b| q.allow_burst(b))),
            Some(RawLimit::Fixed(limit, window)) => Limit::FixedWindow(Window::new(limit, window)?),
            Some(RawLimit::Sliding(limit, window)) => {
                let w = Window::new(limit, window)?;
                if limit > MAX_SLIDING_LIMIT {
                    return Err(ConfigError::new(
                        COMPONENT,
                        "limit",
                        format!("a sliding window holds at most {MAX_SLIDING_LIMIT}, got {limit}"),
                    ));
                }
                Limit::SlidingWindow(w)
            }
        };
        if burst.is_some() && !matches!(limit, Limit::Gcra(_)) {
            return Err(ConfigError::new(
                COMPONENT,
                "burst",
                "applies only to a GCRA rate, not to a window",
            ));
        }
        if let Limit::Gcra(q) = limit {
            q.validate()?;
        }
        Ok(Config {
            name: self.name.unwrap_or(Cow::Borrowed("ratelimit")),
            limit,
            mode: self.mode,
            shadow: self.shadow,
        })
    }
}

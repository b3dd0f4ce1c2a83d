//! The breaker's settings: a builder that validates into a [`Config`].
//!
//! Defaults follow resilience4j where it has one: a count window of 100
//! calls, trip at a 50% failure rate after 100 calls, wait 60 s open, 10
//! probes in half-open. Slow-call detection, backoff of the open wait,
//! a half-open time limit and gradual recovery are off until set.

use ballast_core::ConfigError;
use std::sync::Arc;
use std::time::Duration;

const COMPONENT: &str = "circuit breaker";
/// The most probes half-open can admit (12 bits of the probe counter word).
pub const MAX_HALF_OPEN_PERMITS: u32 = 4095;
/// The largest count window.
pub const MAX_COUNT_WINDOW: u32 = 1 << 20;
/// The most buckets a time window may have.
pub const MAX_TIME_BUCKETS: u32 = 3600;

/// Which recent calls the failure and slow-call rates are computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlidingWindow {
    /// The last `size` calls.
    Count {
        /// How many calls the window holds.
        size: u32,
    },
    /// The calls of the last `duration`, kept in `buckets` buckets of
    /// `duration / buckets` each; a bucket ages out whole.
    Time {
        /// How far back the window reaches.
        duration: Duration,
        /// How many buckets the duration is cut into (resolution of aging).
        buckets: u32,
    },
}

impl SlidingWindow {
    /// A window over the last `size` calls.
    pub fn count(size: u32) -> Self {
        SlidingWindow::Count { size }
    }

    /// A window over the last `duration`, in 10 buckets.
    pub fn time(duration: Duration) -> Self {
        SlidingWindow::Time {
            duration,
            buckets: 10,
        }
    }

    /// A window over the last `duration`, in `buckets` buckets.
    pub fn time_with_buckets(duration: Duration, buckets: u32) -> Self {
        SlidingWindow::Time { duration, buckets }
    }
}

/// How the open wait grows with consecutive trips (a trip right after a
/// failed half-open probe round counts as consecutive).
///
/// The n-th consecutive trip waits `min(max, wait_in_open * multiplier^(n-1))`,
/// then jitter moves it by up to `±jitter` of itself. Jitter is applied after
/// the cap, so breakers that reached the cap do not probe in lockstep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenBackoff {
    pub(crate) multiplier: f64,
    pub(crate) max: Duration,
    pub(crate) jitter: f64,
}

impl OpenBackoff {
    /// Multiplies the wait by `multiplier` on each consecutive trip, up to `max`.
    pub fn exponential(multiplier: f64, max: Duration) -> Self {
        Self {
            multiplier,
            max,
            jitter: 0.0,
        }
    }

    /// A constant wait with jitter only.
    pub fn constant() -> Self {
        Self {
            multiplier: 1.0,
            max: Duration::MAX,
            jitter: 0.0,
        }
    }

    /// Spreads each wait uniformly over `wait * (1 ± jitter)`; `jitter` in `[0, 1)`.
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }
}

/// Gradual recovery: after the half-open probes succeed, admit a growing
/// share of calls instead of all at once.
///
/// The share starts at `start_percent` and grows linearly to 100% over
/// `duration`; calls outside the share are rejected as if open. If the
/// failure or slow-call rate of the admitted calls reaches its threshold
/// (after at least `half_open_permits` calls), the circuit opens again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradualRecovery {
    pub(crate) duration: Duration,
    pub(crate) start_percent: f64,
}

impl GradualRecovery {
    /// Ramp up over `duration`, starting at 10% of calls.
    pub fn over(duration: Duration) -> Self {
        Self {
            duration,
            start_percent: 10.0,
        }
    }

    /// The share of calls admitted when the ramp starts, in percent `(0, 100]`.
    pub fn starting_at(mut self, percent: f64) -> Self {
        self.start_percent = percent;
        self
    }
}

/// A validated circuit-breaker configuration. Build one with
/// [`Config::builder`]; [`Config::default`] is resilience4j's defaults.
/// With feature `serde` it reads from and writes to config files (see the
/// crate docs, "Config files").
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub(crate) name: Arc<str>,
    pub(crate) failure_rate_threshold: f64,
    pub(crate) slow_call_rate_threshold: f64,
    pub(crate) slow_call_duration: Option<Duration>,
    pub(crate) window: SlidingWindow,
    pub(crate) minimum_calls: u32,
    pub(crate) wait_in_open: Duration,
    pub(crate) open_backoff: Option<OpenBackoff>,
    pub(crate) half_open_permits: u32,
    pub(crate) max_wait_in_half_open: Option<Duration>,
    pub(crate) automatic_half_open: bool,
    pub(crate) gradual_recovery: Option<GradualRecovery>,
    pub(crate) cancelled_is_failure: bool,
    pub(crate) seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        ConfigBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The breaker's name, as it appears in events and logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sliding window.
    pub fn sliding_window(&self) -> SlidingWindow {
        self.window
    }

    /// Failure-rate threshold in percent.
    pub fn failure_rate_threshold(&self) -> f64 {
        self.failure_rate_threshold
    }

    /// How long a call must take to count as slow, if slow calls are tracked.
    pub fn slow_call_duration(&self) -> Option<Duration> {
        self.slow_call_duration
    }

    /// How many probes half-open admits.
    pub fn half_open_permits(&self) -> u32 {
        self.half_open_permits
    }
}

/// Builds a [`Config`]; every setting is checked in [`build`](Self::build).
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    config: Config,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                name: Arc::from("default"),
                failure_rate_threshold: 50.0,
                slow_call_rate_threshold: 100.0,
                slow_call_duration: None,
                window: SlidingWindow::count(100),
                minimum_calls: 100,
                wait_in_open: Duration::from_secs(60),
                open_backoff: None,
                half_open_permits: 10,
                max_wait_in_half_open: None,
                automatic_half_open: false,
                gradual_recovery: None,
                cancelled_is_failure: false,
                seed: None,
            },
        }
    }
}

impl ConfigBuilder {
    /// Names the breaker in events and logs (for example the dependency it guards).
    pub fn name(mut self, name: impl AsRef<str>) -> Self {
        self.config.name = Arc::from(name.as_ref());
        self
    }

    /// Trip when at least this percentage of calls in the window failed, in `(0, 100]`.
    pub fn failure_rate_threshold(mut self, percent: f64) -> Self {
        self.config.failure_rate_threshold = percent;
        self
    }

    /// Trip when at least this percentage of calls in the window were slow, in `(0, 100]`.
    pub fn slow_call_rate_threshold(mut self, percent: f64) -> Self {
        self.config.slow_call_rate_threshold = percent;
        self
    }

    /// Calls that take at least this long count as slow. Off by default: slow-call
    /// tracking reads the clock twice per call.
    pub fn slow_call_duration(mut self, at_least: Duration) -> Self {
        self.config.slow_call_duration = Some(at_least);
        self
    }

    /// Which calls the rates are computed over.
    pub fn sliding_window(mut self, window: SlidingWindow) -> Self {
        self.config.window = window;
        self
    }

    /// Rates are not evaluated until the window holds at least this many calls.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.config.minimum_calls = calls;
        self
    }

    /// How long the circuit stays open before probing.
    pub fn wait_in_open(mut self, wait: Duration) -> Self {
        self.config.wait_in_open = wait;
        self
    }

    /// Grow the open wait with consecutive trips.
    pub fn open_backoff(mut self, backoff: OpenBackoff) -> Self {
        self.config.open_backoff = Some(backoff);
        self
    }

    /// How many probe calls half-open admits, concurrently, in `1..=4095`.
    pub fn half_open_permits(mut self, permits: u32) -> Self {
        self.config.half_open_permits = permits;
        self
    }

    /// Reopen if half-open has not decided within this time (for example
    /// because probes hang).
    pub fn max_wait_in_half_open(mut self, max: Duration) -> Self {
        self.config.max_wait_in_half_open = Some(max);
        self
    }

    /// Make time-driven transitions on time even with no call arriving
    /// (a timer on the tokio runtime): open to half-open when the wait
    /// ends, half-open to open at `max_wait_in_half_open`, recovering to
    /// closed when the ramp ends. By default each happens on the first
    /// call after it is due.
    pub fn automatic_half_open(mut self, automatic: bool) -> Self {
        self.config.automatic_half_open = automatic;
        self
    }

    /// Ramp traffic up gradually after the probes succeed.
    pub fn gradual_recovery(mut self, recovery: GradualRecovery) -> Self {
        self.config.gradual_recovery = Some(recovery);
        self
    }

    /// Count a call whose future was dropped before it finished as a
    /// failure. By default a cancelled call counts as nothing (and always
    /// gives back its half-open probe slot).
    pub fn cancelled_is_failure(mut self, yes: bool) -> Self {
        self.config.cancelled_is_failure = yes;
        self
    }

    /// Seed the jitter of the open wait, for reproducible tests.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Checks every setting and returns the config, or the first invalid one.
    pub fn build(self) -> Result<Config, ConfigError> {
        let c = self.config;
        let err = |field, problem: String| Err(ConfigError::new(COMPONENT, field, problem));
        for (field, v) in [
            ("failure_rate_threshold", c.failure_rate_threshold),
            ("slow_call_rate_threshold", c.slow_call_rate_threshold),
        ] {
            if !(v > 0.0 && v <= 100.0) {
                return err(field, format!("must be a percentage in (0, 100], got {v}"));
            }
        }
        if c.slow_call_duration == Some(Duration::ZERO) {
            return err("slow_call_duration", "must be greater than zero".into());
        }
        match c.window {
            SlidingWindow::Count { size } => {
                if size == 0 || size > MAX_COUNT_WINDOW {
                    return err(
                        "sliding_window",
                        format!("count size must be in 1..={MAX_COUNT_WINDOW}, got {size}"),
                    );
                }
                if c.minimum_calls > size {
                    return err(
                        "minimum_calls",
                        format!(
                            "must not exceed the count window size {size}, got {} (the breaker could never trip)",
                            c.minimum_calls
                        ),
                    );
                }
            }
            SlidingWindow::Time { duration, buckets } => {
                if buckets == 0 || buckets > MAX_TIME_BUCKETS {
                    return err(
                        "sliding_window",
                        format!("buckets must be in 1..={MAX_TIME_BUCKETS}, got {buckets}"),
                    );
                }
                if duration < Duration::from_millis(1) * buckets {
                    return err(
                        "sliding_window",
                        format!(
                            "each bucket must span at least 1ms, got {duration:?} over {buckets} buckets"
                        ),
                    );
                }
            }
        }
        if c.minimum_calls == 0 {
            return err("minimum_calls", "must be at least 1".into());
        }
        if c.wait_in_open.is_zero() {
            return err("wait_in_open", "must be greater than zero".into());
        }
        if let Some(b) = c.open_backoff {
            if !(b.multiplier.is_finite() && b.multiplier >= 1.0) {
                return err(
                    "open_backoff",
                    format!(
                        "multiplier must be finite and at least 1, got {}",
                        b.multiplier
                    ),
                );
            }
            if b.max < c.wait_in_open {
                return err(
                    "open_backoff",
                    format!(
                        "max {:?} must be at least wait_in_open {:?}",
                        b.max, c.wait_in_open
                    ),
                );
            }
            if !(0.0..1.0).contains(&b.jitter) {
                return err(
                    "open_backoff",
                    format!("jitter must be in [0, 1), got {}", b.jitter),
                );
            }
        }
        if c.half_open_permits == 0 || c.half_open_permits > MAX_HALF_OPEN_PERMITS {
            return err(
                "half_open_permits",
                format!(
                    "must be in 1..={MAX_HALF_OPEN_PERMITS}, got {}",
                    c.half_open_permits
                ),
            );
        }
        if c.max_wait_in_half_open == Some(Duration::ZERO) {
            return err("max_wait_in_half_open", "must be greater than zero".into());
        }
        if let Some(r) = c.gradual_recovery {
            if r.duration.is_zero() {
                return err(
                    "gradual_recovery",
                    "duration must be greater than zero".into(),
                );
            }
            if !(r.start_percent > 0.0 && r.start_percent <= 100.0) {
                return err(
                    "gradual_recovery",
                    format!("start percent must be in (0, 100], got {}", r.start_percent),
                );
            }
        }
        Ok(c)
    }
}

//! [`Config`] and its [`ConfigBuilder`]: validated settings.

use ballast_core::ConfigError;
use std::borrow::Cow;
use std::time::Duration;

const COMPONENT: &str = "bulkhead";

/// A `max_wait` this long or longer is "forever" (stored as
/// `Duration::MAX`): the family's far future, about 30 years.
const FOREVER_FROM: Duration = ballast_core::FAR_FUTURE;

/// A validated fixed-bulkhead configuration.
///
/// Built with [`Config::builder`]; every value a builder accepts is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) name: Cow<'static, str>,
    pub(crate) max_concurrent_calls: u32,
    pub(crate) max_wait: Duration,
    pub(crate) max_queue_len: usize,
    pub(crate) shadow: bool,
}

impl Config {
    /// A builder with the defaults: 25 concurrent calls, no waiting (a call
    /// that finds no permit is rejected at once).
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The name in `tracing` events.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many calls may be in flight at once.
    pub fn max_concurrent_calls(&self) -> u32 {
        self.max_concurrent_calls
    }

    /// How long a call may wait for a permit: zero when it may not wait,
    /// `Duration::MAX` when only the call's deadline bounds the wait (no
    /// deadline: until a permit frees).
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Whether it only records what it would refuse, admitting everything.
    pub fn shadow(&self) -> bool {
        self.shadow
    }

    /// How many calls may wait at once (0 when calls may not wait).
    pub fn max_queue_len(&self) -> usize {
        self.max_queue_len
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::builder().build().expect("the defaults are valid")
    }
}

/// Builds a [`Config`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    name: Cow<'static, str>,
    max_concurrent_calls: u32,
    max_wait: Option<Duration>,
    max_queue_len: Option<usize>,
    shadow: bool,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("bulkhead"),
            max_concurrent_calls: 25,
            max_wait: None,
            max_queue_len: None,
            shadow: false,
        }
    }
}

impl ConfigBuilder {
    /// The name in `tracing` events (default `"bulkhead"`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// How many calls may be in flight at once (default 25; must be at
    /// least 1).
    pub fn max_concurrent_calls(mut self, n: u32) -> Self {
        self.max_concurrent_calls = n;
        self
    }

    /// How long a call that finds no permit may wait for one (default:
    /// not set, so no wait unless [`max_queue_len`](Self::max_queue_len)
    /// is set). Waiting never outlasts the call's
    /// [`Deadline`](ballast_deadline::Deadline). Zero means calls may not
    /// wait; `Duration::MAX` (or anything from about 30 years,
    /// [`FAR_FUTURE`](ballast_core::FAR_FUTURE), up) means only the
    /// deadline bounds the wait, and is stored as `Duration::MAX`.
    ///
    /// Set without `max_queue_len`, the queue holds as many calls as
    /// `max_concurrent_calls`.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = Some(wait);
        self
    }

    /// How many calls may wait at once, in arrival order.
    ///
    /// - With [`max_wait`](Self::max_wait) set (not zero), a call waits
    ///   until `max_wait` or its deadline, whichever is first; the length
    ///   defaults to `max_concurrent_calls` and must be at least 1.
    /// - Without `max_wait`, a length above 0 still makes a queue: a call
    ///   waits until its [`Deadline`](ballast_deadline::Deadline)
    ///   (`Deadline::current()`), and with no deadline until a permit
    ///   frees, as resilience4j's bulkhead does with an unbounded wait.
    ///   [`Config::max_wait`] then reads `Duration::MAX`.
    /// - With `max_wait` set to zero, a length above 0 is a
    ///   [`ConfigError`]: the two contradict each other.
    ///
    /// 0 means no queue: a call that finds no permit is rejected at once.
    /// Whatever is set, at most `u32::MAX` calls wait at once.
    pub fn max_queue_len(mut self, n: usize) -> Self {
        self.max_queue_len = Some(n);
        self
    }

    /// Shadow mode (default off): decide and record as if enforcing (the
    /// snapshot's `would_have_rejected` and `would_have_queued`), but admit
    /// every call at once, never waiting. For tuning the limit on live
    /// traffic before turning it on.
    pub fn shadow(mut self, shadow: bool) -> Self {
        self.shadow = shadow;
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<Config, ConfigError> {
        if self.max_concurrent_calls == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "max_concurrent_calls",
                "must be at least 1, got 0",
            ));
        }
        let (max_wait, max_queue_len) = match (self.max_wait, self.max_queue_len) {
            // No queue: the default, or said in so many words.
            (None | Some(Duration::ZERO), None | Some(0)) => (Duration::ZERO, 0),
            (Some(Duration::ZERO), Some(n)) => {
                return Err(ConfigError::new(
                    COMPONENT,
                    "max_wait",
                    format!(
                        "is zero (calls may not wait) but max_queue_len is {n}; \
                         leave max_wait unset to wait until the call's deadline, \
                         or set max_queue_len to 0"
                    ),
                ));
            }
            (Some(_), Some(0)) => {
                return Err(ConfigError::new(
                    COMPONENT,
                    "max_queue_len",
                    "must be at least 1 when max_wait is set, got 0",
                ));
            }
            (Some(wait), len) => (wait, len.unwrap_or(self.max_concurrent_calls as usize)),
            // A queue without max_wait: the deadline bounds the wait.
            (None, Some(n)) => (Duration::MAX, n),
        };
        let max_wait = if max_wait >= FOREVER_FROM {
            Duration::MAX
        } else {
            max_wait
        };
        Ok(Config {
            name: self.name,
            max_concurrent_calls: self.max_concurrent_calls,
            max_wait,
            max_queue_len,
            shadow: self.shadow,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_max_concurrent_calls_is_a_config_error() {
        let err = Config::builder()
            .max_concurrent_calls(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_concurrent_calls");
        assert_eq!(err.component(), "bulkhead");
    }

    #[test]
    fn a_wait_without_a_queue_is_a_config_error() {
        let err = Config::builder()
            .max_wait(Duration::from_millis(10))
            .max_queue_len(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_queue_len");
    }

    #[test]
    fn the_defaults_have_no_queue() {
        let c = Config::default();
        assert_eq!((c.max_wait(), c.max_queue_len()), (Duration::ZERO, 0));
        let c = Config::builder().max_queue_len(0).build().unwrap();
        assert_eq!((c.max_wait(), c.max_queue_len()), (Duration::ZERO, 0));
    }

    #[test]
    fn a_queue_length_without_max_wait_is_a_queue_bounded_by_the_deadline_only() {
        let c = Config::builder().max_queue_len(5).build().unwrap();
        assert_eq!(c.max_queue_len(), 5);
        assert_eq!(c.max_wait(), Duration::MAX);
    }

    #[test]
    fn a_queue_length_with_a_zero_max_wait_is_a_config_error() {
        let err = Config::builder()
            .max_wait(Duration::ZERO)
            .max_queue_len(5)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_wait");
        assert!(err.problem().contains("max_queue_len"), "{err}");
    }

    #[test]
    fn a_wait_of_30_years_or_more_is_forever() {
        for wait in [FOREVER_FROM, Duration::from_secs(u64::MAX), Duration::MAX] {
            let c = Config::builder().max_wait(wait).build().unwrap();
            assert_eq!(c.max_wait(), Duration::MAX, "{wait:?}");
        }
        let just_under = FOREVER_FROM - Duration::from_nanos(1);
        let c = Config::builder().max_wait(just_under).build().unwrap();
        assert_eq!(c.max_wait(), just_under);
    }
}

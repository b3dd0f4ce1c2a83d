//! [`Config`] and its [`ConfigBuilder`]: validated settings.

use ballast_core::ConfigError;
use std::borrow::Cow;
use std::time::Duration;

const COMPONENT: &str = "bulkhead";

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

    /// How long a call may wait for a permit (zero: it may not wait).
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Whether it only records what it would refuse, admitting everything.
    pub fn shadow(&self) -> bool {
        self.shadow
    }

    /// How many calls may wait at once (0 when calls may not wait).
    pub fn max_queue_len(&self) -> usize {
        if self.max_wait.is_zero() {
            0
        } else {
            self.max_queue_len
        }
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
    max_wait: Duration,
    max_queue_len: Option<usize>,
    shadow: bool,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("bulkhead"),
            max_concurrent_calls: 25,
            max_wait: Duration::ZERO,
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

    /// How long a call that finds no permit may wait for one (default
    /// zero: rejected at once). Waiting never outlasts the call's
    /// [`Deadline`](ballast_deadline::Deadline).
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// How many calls may wait at once, in arrival order (default: as many
    /// as `max_concurrent_calls`; must be at least 1 when `max_wait` is set).
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
        let max_queue_len = self
            .max_queue_len
            .unwrap_or(self.max_concurrent_calls as usize);
        if !self.max_wait.is_zero() && max_queue_len == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "max_queue_len",
                "must be at least 1 when max_wait is set, got 0",
            ));
        }
        Ok(Config {
            name: self.name,
            max_concurrent_calls: self.max_concurrent_calls,
            max_wait: self.max_wait,
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
    fn no_wait_means_no_queue() {
        let c = Config::builder().max_queue_len(5).build().unwrap();
        assert_eq!(c.max_queue_len(), 0);
    }
}

//! [`ShedConfig`] and its [`ShedConfigBuilder`]: validated settings of a
//! load shedder.

use super::priority::{Priority, Thresholds};
use ballast_core::ConfigError;
use std::borrow::Cow;

pub(crate) const COMPONENT: &str = "load shedder";

/// A validated load-shedder configuration.
///
/// Built with [`ShedConfig::builder`]; every value a builder accepts is
/// valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShedConfig {
    pub(crate) name: Cow<'static, str>,
    pub(crate) max_in_flight: u32,
    pub(crate) thresholds: Thresholds,
    pub(crate) shadow: bool,
}

impl ShedConfig {
    /// A builder with the defaults: 25 calls in flight, thresholds
    /// critical 100%, high 90%, normal 80%, low 60%, enforcing.
    pub fn builder() -> ShedConfigBuilder {
        ShedConfigBuilder::default()
    }

    /// The name in `tracing` events.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The most calls in flight (critical calls may fill all of it).
    pub fn max_in_flight(&self) -> u32 {
        self.max_in_flight
    }

    /// The share of the limit each priority may fill.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// Whether it only records what it would shed, admitting everything.
    pub fn shadow(&self) -> bool {
        self.shadow
    }
}

impl Default for ShedConfig {
    fn default() -> Self {
        ShedConfig::builder()
            .build()
            .expect("the defaults are valid")
    }
}

/// Builds a [`ShedConfig`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct ShedConfigBuilder {
    name: Cow<'static, str>,
    max_in_flight: u32,
    thresholds: Thresholds,
    shadow: bool,
}

impl Default for ShedConfigBuilder {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("load shedder"),
            max_in_flight: 25,
            thresholds: Thresholds::default(),
            shadow: false,
        }
    }
}

impl ShedConfigBuilder {
    /// The name in `tracing` events (default `"load shedder"`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The most calls in flight (default 25; at least 1). Critical calls
    /// may fill all of it; lower priorities their threshold's share.
    pub fn max_in_flight(mut self, n: u32) -> Self {
        self.max_in_flight = n;
        self
    }

    /// The percent of `max_in_flight` calls of `priority` may fill (1 to
    /// 100; a higher priority's at least a lower one's). Defaults:
    /// critical 100, high 90, normal 80, low 60.
    pub fn threshold(mut self, priority: Priority, percent: u8) -> Self {
        self.thresholds.set(priority, percent);
        self
    }

    /// All four thresholds at once.
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Shadow mode (default off): decide and record as if enforcing (the
    /// snapshot's `would_have_shed`), but admit every call. For tuning
    /// thresholds on live traffic before turning shedding on.
    pub fn shadow(mut self, shadow: bool) -> Self {
        self.shadow = shadow;
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<ShedConfig, ConfigError> {
        if self.max_in_flight == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "max_in_flight",
                "must be at least 1, got 0",
            ));
        }
        self.thresholds.validate(COMPONENT)?;
        Ok(ShedConfig {
            name: self.name,
            max_in_flight: self.max_in_flight,
            thresholds: self.thresholds,
            shadow: self.shadow,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_max_in_flight_is_a_config_error() {
        let err = ShedConfig::builder().max_in_flight(0).build().unwrap_err();
        assert_eq!((err.component(), err.field()), (COMPONENT, "max_in_flight"));
    }

    #[test]
    fn a_low_threshold_above_normal_is_a_config_error() {
        let err = ShedConfig::builder()
            .threshold(Priority::Low, 90)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "threshold_normal");
        let err = ShedConfig::builder()
            .threshold(Priority::Critical, 0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "threshold_critical");
    }
}

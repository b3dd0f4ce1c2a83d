//! Reading a [`HedgeConfig`] from a file (feature `serde`).
//!
//! Every field is optional; a missing one keeps the builder's default. The
//! values go through the builders, so a file is checked exactly like code:
//! an invalid value is a deserialization error carrying the
//! [`ConfigError`] message, and an unknown field is an error too.
//!
//! ```json
//! {
//!     "delay": { "percentile": 95, "min": "5ms", "max": "2s", "fallback": "100ms" },
//!     "max_hedges": 1,
//!     "min_attempt_time": "10ms",
//!     "budget": { "percent": 10, "min_per_second": 1 },
//!     "min_samples": 50,
//!     "latency_window": "10s"
//! }
//! ```
//!
//! `delay` is a duration (a fixed delay: `"50ms"`) or a map with the
//! percentile and optional `min`, `max`, `fallback`; `budget` is `"off"`
//! or a map whose missing fields keep the hedge budget's defaults.

use super::config::{
    DEFAULT_FALLBACK, DEFAULT_MAX, DEFAULT_MIN, HedgeConfig, HedgeDelay, default_budget,
};
use crate::budget::BudgetConfig;
use ballast_core::ConfigError;
use serde::de::{self, MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

/// The file's view of a [`HedgeConfig`]: everything optional, nothing
/// checked.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawHedgeConfig {
    delay: Option<RawDelay>,
    max_hedges: Option<u32>,
    #[serde(with = "ballast_core::duration::option")]
    min_attempt_time: Option<Duration>,
    budget: Option<RawBudget>,
    min_samples: Option<u32>,
    #[serde(with = "ballast_core::duration::option")]
    latency_window: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDelay {
    Fixed(#[serde(with = "ballast_core::duration::serde")] Duration),
    Percentile(RawPercentile),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPercentile {
    percentile: f64,
    #[serde(default, with = "ballast_core::duration::option")]
    min: Option<Duration>,
    #[serde(default, with = "ballast_core::duration::option")]
    max: Option<Duration>,
    #[serde(default, with = "ballast_core::duration::option")]
    fallback: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawBudgetSettings {
    percent: Option<f64>,
    min_per_second: Option<u32>,
    #[serde(with = "ballast_core::duration::option")]
    window: Option<Duration>,
    buckets: Option<u32>,
}

/// `"off"`, or the budget's settings.
#[derive(Debug)]
enum RawBudget {
    Off,
    Settings(RawBudgetSettings),
}

impl<'de> Deserialize<'de> for RawBudget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BudgetVisitor;

        impl<'de> Visitor<'de> for BudgetVisitor {
            type Value = RawBudget;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"off\" or a map of budget settings")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawBudget, E> {
                if v == "off" {
                    Ok(RawBudget::Off)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawBudget, A::Error> {
                RawBudgetSettings::deserialize(MapAccessDeserializer::new(map))
                    .map(RawBudget::Settings)
            }
        }

        d.deserialize_any(BudgetVisitor)
    }
}

impl TryFrom<RawBudgetSettings> for BudgetConfig {
    type Error = ConfigError;

    /// Missing fields keep the hedge budget's defaults.
    fn try_from(raw: RawBudgetSettings) -> Result<BudgetConfig, ConfigError> {
        let d = default_budget();
        let mut b = BudgetConfig::builder()
            .percent(raw.percent.unwrap_or(d.percent()))
            .min_per_second(raw.min_per_second.unwrap_or(d.min_per_second()))
            .window(raw.window.unwrap_or(d.window()));
        b = b.buckets(raw.buckets.unwrap_or(d.buckets()));
        b.build()
    }
}

impl From<RawDelay> for HedgeDelay {
    fn from(raw: RawDelay) -> HedgeDelay {
        match raw {
            RawDelay::Fixed(d) => HedgeDelay::Fixed(d),
            RawDelay::Percentile(p) => HedgeDelay::Percentile {
                p: p.percentile,
                min: p.min.unwrap_or(DEFAULT_MIN),
                max: p.max.unwrap_or(DEFAULT_MAX),
                fallback: p.fallback.unwrap_or(DEFAULT_FALLBACK),
            },
        }
    }
}

impl TryFrom<RawHedgeConfig> for HedgeConfig {
    type Error = ConfigError;

    fn try_from(raw: RawHedgeConfig) -> Result<HedgeConfig, ConfigError> {
        let mut b = HedgeConfig::builder();
        if let Some(v) = raw.delay {
            b = b.delay(v.into());
        }
        if let Some(v) = raw.max_hedges {
            b = b.max_hedges(v);
        }
        if let Some(v) = raw.min_attempt_time {
            b = b.min_attempt_time(v);
        }
        match raw.budget {
            None => {}
            Some(RawBudget::Off) => b = b.no_budget(),
            Some(RawBudget::Settings(v)) => b = b.budget(BudgetConfig::try_from(v)?),
        }
        if let Some(v) = raw.min_samples {
            b = b.min_samples(v);
        }
        if let Some(v) = raw.latency_window {
            b = b.latency_window(v);
        }
        b.build()
    }
}

impl<'de> Deserialize<'de> for HedgeConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawHedgeConfig::deserialize(d)?;
        HedgeConfig::try_from(raw).map_err(de::Error::custom)
    }
}

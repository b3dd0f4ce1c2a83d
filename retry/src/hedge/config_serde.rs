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
use crate::budget::config_serde::RawBudget;
use ballast_core::ConfigError;
use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// The file's view of a [`HedgeConfig`]: everything optional, nothing
/// checked.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawHedgeConfig {
    name: Option<String>,
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
        if let Some(v) = raw.name {
            b = b.name(v);
        }
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
            Some(RawBudget::Settings(v)) => b = b.budget(v.into_config(&default_budget())?),
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
        HedgeConfig::try_from(raw).map_err(|e| {
            // The builder's field, as a key of this config in the file;
            // the budget's are nested under its own.
            let key = match e.component() {
                "retry budget" => format!("budget.{}", e.field()),
                // The builder's `p`, written `percentile` in the file.
                _ if e.field() == "delay.p" => "delay.percentile".to_owned(),
                _ => e.field().to_owned(),
            };
            ballast_core::config_file::invalid(&e, &key)
        })
    }
}

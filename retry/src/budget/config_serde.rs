//! A retry budget in a config file: `"off"`, or a map of its settings.
//! Shared by the retry and the hedging configs, which differ only in the
//! defaults a missing field keeps.

use super::config::BudgetConfig;
use ballast_core::ConfigError;
use serde::de::{self, MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

/// The budget's settings as written; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawBudgetSettings {
    percent: Option<f64>,
    min_per_second: Option<u32>,
    #[serde(with = "ballast_core::duration::option")]
    window: Option<Duration>,
    buckets: Option<u32>,
}

impl RawBudgetSettings {
    /// The validated budget; a missing field keeps its value in `defaults`.
    pub(crate) fn into_config(self, defaults: &BudgetConfig) -> Result<BudgetConfig, ConfigError> {
        BudgetConfig::builder()
            .percent(self.percent.unwrap_or(defaults.percent()))
            .min_per_second(self.min_per_second.unwrap_or(defaults.min_per_second()))
            .window(self.window.unwrap_or(defaults.window()))
            .buckets(self.buckets.unwrap_or(defaults.buckets()))
            .build()
    }
}

/// `"off"`, or the budget's settings.
#[derive(Debug)]
pub(crate) enum RawBudget {
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

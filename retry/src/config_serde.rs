//! Reading a [`Config`] from a file (feature `serde`).
//!
//! Every field is optional; a missing one keeps the builder's default. The
//! values go through the builders ([`ConfigBuilder::build`],
//! [`BackoffBuilder::build`], [`BudgetConfigBuilder::build`](crate::BudgetConfigBuilder::build)), so a file is
//! checked exactly like code: an invalid value is a deserialization error
//! carrying the [`ConfigError`] message, and an unknown field is an error
//! too. Durations are written `"30s"`, `"1m30s"`, `"250ms"`, or as a number
//! of seconds.

use crate::backoff::{Backoff, BackoffBuilder, Jitter};
use crate::budget::BudgetConfig;
use crate::budget::config_serde::RawBudget;
use crate::config::{Config, ConfigBuilder};
use ballast_core::ConfigError;
use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// The file's view of a [`Config`]: everything optional, nothing checked.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    name: Option<String>,
    max_attempts: Option<u32>,
    backoff: Option<RawBackoff>,
    #[serde(with = "ballast_core::duration::option")]
    max_total_time: Option<Duration>,
    #[serde(with = "ballast_core::duration::option")]
    min_attempt_time: Option<Duration>,
    budget: Option<RawBudget>,
    seed: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawKind {
    Constant,
    Linear,
    Exponential,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawJitter {
    None,
    Full,
    Equal,
    Decorrelated,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    kind: RawKind,
    #[serde(with = "ballast_core::duration::serde")]
    base: Duration,
    #[serde(default)]
    factor: Option<f64>,
    #[serde(default, with = "ballast_core::duration::option")]
    cap: Option<Duration>,
    #[serde(default)]
    jitter: Option<RawJitter>,
}

impl TryFrom<RawBackoff> for Backoff {
    type Error = ConfigError;

    fn try_from(raw: RawBackoff) -> Result<Backoff, ConfigError> {
        let mut b: BackoffBuilder = match raw.kind {
            RawKind::Constant => Backoff::constant(raw.base),
            RawKind::Linear => Backoff::linear(raw.base),
            RawKind::Exponential => Backoff::exponential(raw.base),
        };
        if let Some(v) = raw.factor {
            b = b.factor(v);
        }
        if let Some(v) = raw.cap {
            b = b.cap(v);
        }
        if let Some(v) = raw.jitter {
            b = b.jitter(match v {
                RawJitter::None => Jitter::None,
                RawJitter::Full => Jitter::Full,
                RawJitter::Equal => Jitter::Equal,
                RawJitter::Decorrelated => Jitter::Decorrelated,
            });
        }
        b.build()
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Config, ConfigError> {
        let mut b: ConfigBuilder = Config::builder();
        if let Some(v) = raw.name {
            b = b.name(v);
        }
        if let Some(v) = raw.max_attempts {
            b = b.max_attempts(v);
        }
        if let Some(v) = raw.backoff {
            b = b.backoff(Backoff::try_from(v)?);
        }
        if let Some(v) = raw.max_total_time {
            b = b.max_total_time(v);
        }
        if let Some(v) = raw.min_attempt_time {
            b = b.min_attempt_time(v);
        }
        match raw.budget {
            None => {}
            Some(RawBudget::Off) => b = b.no_budget(),
            Some(RawBudget::Settings(v)) => b = b.budget(v.into_config(&BudgetConfig::default())?),
        }
        if let Some(v) = raw.seed {
            b = b.seed(v);
        }
        b.build()
    }
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawConfig::deserialize(d)?;
        Config::try_from(raw).map_err(|e| {
            // The builder's field, as a key of this config in the file:
            // the backoff's and the budget's are nested under theirs.
            let key = match e.component() {
                "backoff" => format!("backoff.{}", e.field()),
                "retry budget" => format!("budget.{}", e.field()),
                _ => e.field().to_owned(),
            };
            ballast_core::config_file::invalid(&e, &key)
        })
    }
}

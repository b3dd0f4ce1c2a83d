//! Reading a [`RedisConfig`] from a file (features `serde` and `redis`).
//!
//! Every field is optional except the rate; a missing one keeps the
//! builder's default. The values go through [`RedisConfigBuilder::build`],
//! so a file is checked exactly like code, and an unknown field is an
//! error. Durations are written `"30s"`, `"250ms"`, or as seconds.

use super::config::{Fallback, RedisConfig, RedisConfigBuilder};
use ballast_core::ConfigError;
use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// The file's view of a [`RedisConfig`]: everything optional, nothing checked.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    name: Option<String>,
    rate: Option<RawRate>,
    burst: Option<u32>,
    key_prefix: Option<String>,
    #[serde(with = "ballast_core::duration::option")]
    timeout: Option<Duration>,
    fallback: Option<RawFallback>,
    shadow: Option<bool>,
    breaker: Option<ballast_circuit_breaker::Config>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    cells: u32,
    #[serde(with = "ballast_core::duration::serde")]
    per: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawFallback {
    FailOpen,
    FailClosed,
    Local { instances: u32 },
}

impl TryFrom<RawConfig> for RedisConfig {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<RedisConfig, ConfigError> {
        let mut b = RedisConfigBuilder::default();
        if let Some(v) = raw.name {
            b = b.name(v);
        }
        if let Some(RawRate { cells, per }) = raw.rate {
            b = b.rate(cells, per);
        }
        if let Some(v) = raw.burst {
            b = b.burst(v);
        }
        if let Some(v) = raw.key_prefix {
            b = b.key_prefix(v);
        }
        if let Some(v) = raw.timeout {
            b = b.timeout(v);
        }
        if let Some(v) = raw.fallback {
            b = b.fallback(match v {
                RawFallback::FailOpen => Fallback::FailOpen,
                RawFallback::FailClosed => Fallback::FailClosed,
                RawFallback::Local { instances } => Fallback::Local { instances },
            });
        }
        if let Some(v) = raw.shadow {
            b = b.shadow(v);
        }
        if let Some(v) = raw.breaker {
            b = b.breaker(v);
        }
        b.build()
    }
}

impl<'de> Deserialize<'de> for RedisConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawConfig::deserialize(d)?;
        let rate = match &raw.rate {
            Some(RawRate { cells: 0, .. }) => "rate.cells",
            _ => "rate",
        };
        RedisConfig::try_from(raw).map_err(|e| {
            // The builder's field, as a key of this config in the file.
            let key = match e.field() {
                "rate" => rate,
                "period" => "rate.per",
                field => field,
            };
            ballast_core::config_file::invalid(&e, key)
        })
    }
}

//! Reading a [`Config`] from a file, and writing one back (feature `serde`).
//!
//! Every field is optional; a missing one keeps the builder's default. The
//! values go through [`ConfigBuilder::build`], so a file is checked exactly
//! like code: an invalid value is a deserialization error carrying the
//! [`ConfigError`] message, and an unknown field is an error too. Durations
//! are written `"30s"`, `"1m30s"`, `"250ms"`, or as a number of seconds.
//!
//! A queue whose wait only the call's deadline bounds (`max_queue_len`
//! without `max_wait`, or a `max_wait` of about 30 years or more) is
//! written as `max_queue_len` alone, and reads back the same.

use crate::config::{Config, ConfigBuilder};
use ballast_core::ConfigError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// The file's view of a [`Config`]: everything optional, nothing checked.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_concurrent_calls: Option<u32>,
    #[serde(
        with = "ballast_core::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    max_wait: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_queue_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shadow: Option<bool>,
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Config, ConfigError> {
        let mut b = ConfigBuilder::default();
        if let Some(v) = raw.name {
            b = b.name(v);
        }
        if let Some(v) = raw.max_concurrent_calls {
            b = b.max_concurrent_calls(v);
        }
        if let Some(v) = raw.max_wait {
            b = b.max_wait(v);
        }
        if let Some(v) = raw.max_queue_len {
            b = b.max_queue_len(v);
        }
        if let Some(v) = raw.shadow {
            b = b.shadow(v);
        }
        b.build()
    }
}

impl From<&Config> for RawConfig {
    fn from(c: &Config) -> Self {
        RawConfig {
            name: Some(c.name.to_string()),
            max_concurrent_calls: Some(c.max_concurrent_calls),
            // "Forever" is no max_wait: a file says it by leaving the
            // field out (a human string cannot hold Duration::MAX).
            max_wait: (c.max_wait != Duration::MAX).then_some(c.max_wait),
            max_queue_len: Some(c.max_queue_len),
            shadow: Some(c.shadow),
        }
    }
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawConfig::deserialize(d)?;
        Config::try_from(raw).map_err(|e| {
            // The builder's fields are named as this config's keys.
            let key = e.field();
            ballast_core::config_file::invalid(&e, key)
        })
    }
}

impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawConfig::from(self).serialize(s)
    }
}

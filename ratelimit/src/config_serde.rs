//! Reading a [`Config`] from a file, and writing one back (feature `serde`).
//!
//! Every field is optional except the limit; a missing one keeps the
//! builder's default. The values go through [`ConfigBuilder::build`], so a
//! file is checked exactly like code: an invalid value is a deserialization
//! error carrying the [`ConfigError`] message, and an unknown field is an
//! error too. Read through
//! [`ballast_core::config_file::from_deserializer`], the error names the
//! bad value's key path in the file (`api.limit.cells`). Durations are written `"30s"`, `"1m30s"`, `"250ms"`, or as a
//! number of seconds.

use crate::config::{Config, ConfigBuilder, Limit, Mode};
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
    limit: Option<RawLimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    burst: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<RawMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shadow: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawLimit {
    /// GCRA: `cells` every `per` (the burst is `burst`, or `cells`).
    Rate {
        cells: u32,
        #[serde(with = "ballast_core::duration::serde")]
        per: Duration,
    },
    FixedWindow {
        limit: u32,
        #[serde(with = "ballast_core::duration::serde")]
        window: Duration,
    },
    SlidingWindow {
        limit: u32,
        #[serde(with = "ballast_core::duration::serde")]
        window: Duration,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawMode {
    Reject,
    Wait {
        #[serde(with = "ballast_core::duration::serde")]
        max_wait: Duration,
    },
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Config, ConfigError> {
        let mut b = ConfigBuilder::default();
        if let Some(v) = raw.name {
            b = b.name(v);
        }
        if let Some(v) = raw.limit {
            b = match v {
                RawLimit::Rate { cells, per } => b.rate(cells, per),
                RawLimit::FixedWindow { limit, window } => b.fixed_window(limit, window),
                RawLimit::SlidingWindow { limit, window } => b.sliding_window(limit, window),
            };
        }
        if let Some(v) = raw.burst {
            b = b.burst(v);
        }
        if let Some(v) = raw.mode {
            b = b.mode(match v {
                RawMode::Reject => Mode::Reject,
                RawMode::Wait { max_wait } => Mode::Wait { max_wait },
            });
        }
        if let Some(v) = raw.shadow {
            b = b.shadow(v);
        }
        b.build()
    }
}

impl From<&Config> for RawConfig {
    fn from(c: &Config) -> Self {
        let limit = match c.limit {
            // `burst` cells per `burst × interval`: reading it back gives the
            // same interval (exactly, whatever rounding made it) and burst.
            Limit::Gcra(q) => RawLimit::Rate {
                cells: q.burst().get(),
                per: q.burst_window(),
            },
            Limit::FixedWindow(w) => RawLimit::FixedWindow {
                limit: w.limit(),
                window: w.length(),
            },
            Limit::SlidingWindow(w) => RawLimit::SlidingWindow {
                limit: w.limit(),
                window: w.length(),
            },
        };
        RawConfig {
            name: Some(c.name.to_string()),
            limit: Some(limit),
            burst: None,
            mode: Some(match c.mode {
                Mode::Reject => RawMode::Reject,
                Mode::Wait { max_wait } => RawMode::Wait { max_wait },
            }),
            shadow: Some(c.shadow),
        }
    }
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawConfig::deserialize(d)?;
        let limit = raw.limit.as_ref().map(|l| match l {
            RawLimit::Rate { cells: 0, .. } => "limit.cells",
            RawLimit::Rate { .. } => "limit",
            RawLimit::FixedWindow { .. } | RawLimit::SlidingWindow { .. } => "limit.limit",
        });
        Config::try_from(raw).map_err(|e| {
            // The builder's field, as a key of this config in the file.
            let key = match e.field() {
                "rate" | "limit" => limit.unwrap_or("limit"),
                "period" => "limit.per",
                "window" => "limit.window",
                field => field,
            };
            ballast_core::config_file::invalid(&e, key)
        })
    }
}

impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawConfig::from(self).serialize(s)
    }
}

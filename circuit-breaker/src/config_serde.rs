//! Reading a [`Config`] from a file, and writing one back (feature `serde`).
//!
//! Every field is optional; a missing one keeps the builder's default. The
//! values go through [`ConfigBuilder::build`], so a file is checked exactly
//! like code: an invalid value is a deserialization error carrying the
//! [`ConfigError`] message, never a panic, and an
//! unknown field is an error too (a misspelt setting is not silently
//! ignored). Durations are written `"30s"`, `"1m30s"`, `"250ms"`, or as a
//! number of seconds.
//!
//! ```
//! # fn main() -> Result<(), serde_json::Error> {
//! use ballast_circuit_breaker::Config;
//!
//! let config: Config = serde_json::from_str(
//!     r#"{
//!         "name": "inventory",
//!         "failure_rate_threshold": 50,
//!         "slow_call_rate_threshold": 80,
//!         "slow_call_duration": "2s",
//!         "sliding_window": { "type": "time", "duration": "60s", "buckets": 12 },
//!         "minimum_calls": 20,
//!         "wait_in_open": "30s",
//!         "open_backoff": { "multiplier": 2.0, "max": "5m", "jitter": 0.2 },
//!         "half_open_permits": 5,
//!         "max_wait_in_half_open": "1m",
//!         "automatic_half_open": true,
//!         "gradual_recovery": { "duration": "1m", "start_percent": 10 },
//!         "cancelled_is_failure": false,
//!         "seed": 42
//!     }"#,
//! )?;
//! assert_eq!(config.name(), "inventory");
//!
//! // Missing fields keep their defaults; invalid values are errors.
//! let err = serde_json::from_str::<Config>(r#"{ "half_open_permits": 0 }"#).unwrap_err();
//! assert!(err.to_string().contains("half_open_permits"));
//! # Ok(()) }
//! ```
//!
//! The shapes of the nested settings:
//!
//! - `sliding_window`: `{"type": "count", "size": 100}` or
//!   `{"type": "time", "duration": "60s", "buckets": 10}` (`buckets`
//!   optional, 10 by default).
//! - `open_backoff`: `{"multiplier": 2.0, "max": "5m", "jitter": 0.2}`;
//!   `jitter` is optional (0 by default), and leaving out `max` means no
//!   cap (as [`OpenBackoff::constant`] has).
//! - `gradual_recovery`: `{"duration": "1m", "start_percent": 10}`;
//!   `start_percent` is optional (10 by default).
//!
//! Serializing writes the same shape, durations as human strings, and
//! leaves out the settings that are off, so a config round-trips.

use crate::config::{Config, ConfigBuilder, GradualRecovery, OpenBackoff, SlidingWindow};
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
    failure_rate_threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slow_call_rate_threshold: Option<f64>,
    #[serde(
        with = "ballast_core::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    slow_call_duration: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sliding_window: Option<RawWindow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum_calls: Option<u32>,
    #[serde(
        with = "ballast_core::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    wait_in_open: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_backoff: Option<RawBackoff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    half_open_permits: Option<u32>,
    #[serde(
        with = "ballast_core::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    max_wait_in_half_open: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    automatic_half_open: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gradual_recovery: Option<RawRecovery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancelled_is_failure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawWindow {
    Count {
        size: u32,
    },
    Time {
        #[serde(with = "ballast_core::duration::serde")]
        duration: Duration,
        // Optional so the default stays in one place: `SlidingWindow::time`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        buckets: Option<u32>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    multiplier: f64,
    // `None` is no cap: `Duration::MAX` cannot be written as a duration string.
    #[serde(
        default,
        with = "ballast_core::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    max: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jitter: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecovery {
    #[serde(with = "ballast_core::duration::serde")]
    duration: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_percent: Option<f64>,
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Config, ConfigError> {
        let mut b = ConfigBuilder::default();
        if let Some(v) = raw.name {
            b = b.name(v);
        }
        if let Some(v) = raw.failure_rate_threshold {
            b = b.failure_rate_threshold(v);
        }
        if let Some(v) = raw.slow_call_rate_threshold {
            b = b.slow_call_rate_threshold(v);
        }
        if let Some(v) = raw.slow_call_duration {
            b = b.slow_call_duration(v);
        }
        if let Some(v) = raw.sliding_window {
            b = b.sliding_window(match v {
                RawWindow::Count { size } => SlidingWindow::count(size),
                RawWindow::Time {
                    duration,
                    buckets: None,
                } => SlidingWindow::time(duration),
                RawWindow::Time {
                    duration,
                    buckets: Some(buckets),
                } => SlidingWindow::time_with_buckets(duration, buckets),
            });
        }
        if let Some(v) = raw.minimum_calls {
            b = b.minimum_calls(v);
        }
        if let Some(v) = raw.wait_in_open {
            b = b.wait_in_open(v);
        }
        if let Some(v) = raw.open_backoff {
            let mut backoff =
                OpenBackoff::exponential(v.multiplier, v.max.unwrap_or(Duration::MAX));
            if let Some(jitter) = v.jitter {
                backoff = backoff.jitter(jitter);
            }
            b = b.open_backoff(backoff);
        }
        if let Some(v) = raw.half_open_permits {
            b = b.half_open_permits(v);
        }
        if let Some(v) = raw.max_wait_in_half_open {
            b = b.max_wait_in_half_open(v);
        }
        if let Some(v) = raw.automatic_half_open {
            b = b.automatic_half_open(v);
        }
        if let Some(v) = raw.gradual_recovery {
            let mut recovery = GradualRecovery::over(v.duration);
            if let Some(percent) = v.start_percent {
                recovery = recovery.starting_at(percent);
            }
            b = b.gradual_recovery(recovery);
        }
        if let Some(v) = raw.cancelled_is_failure {
            b = b.cancelled_is_failure(v);
        }
        if let Some(v) = raw.seed {
            b = b.seed(v);
        }
        b.build()
    }
}

impl From<&Config> for RawConfig {
    fn from(c: &Config) -> Self {
        RawConfig {
            name: Some(c.name.to_string()),
            failure_rate_threshold: Some(c.failure_rate_threshold),
            slow_call_rate_threshold: Some(c.slow_call_rate_threshold),
            slow_call_duration: c.slow_call_duration,
            sliding_window: Some(match c.window {
                SlidingWindow::Count { size } => RawWindow::Count { size },
                SlidingWindow::Time { duration, buckets } => RawWindow::Time {
                    duration,
                    buckets: Some(buckets),
                },
            }),
            minimum_calls: Some(c.minimum_calls),
            wait_in_open: Some(c.wait_in_open),
            open_backoff: c.open_backoff.map(|b| RawBackoff {
                multiplier: b.multiplier,
                max: (b.max != Duration::MAX).then_some(b.max),
                jitter: Some(b.jitter),
            }),
            half_open_permits: Some(c.half_open_permits),
            max_wait_in_half_open: c.max_wait_in_half_open,
            automatic_half_open: Some(c.automatic_half_open),
            gradual_recovery: c.gradual_recovery.map(|r| RawRecovery {
                duration: r.duration,
                start_percent: Some(r.start_percent),
            }),
            cancelled_is_failure: Some(c.cancelled_is_failure),
            seed: c.seed,
        }
    }
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawConfig::deserialize(d)?;
        Config::try_from(raw).map_err(|e| ballast_core::config_file::invalid(&e, &key_of(&e)))
    }
}

/// The key in the file of the value `e` blames: the builder's field,
/// which is the key, and for a nested setting the key within it that
/// the problem names first (`open_backoff.max`).
fn key_of(e: &ConfigError) -> String {
    let nested = match (e.field(), e.problem().split(' ').next().unwrap_or("")) {
        ("open_backoff", sub @ ("multiplier" | "max" | "jitter")) => sub,
        ("sliding_window", "count") => "size",
        ("sliding_window", "buckets") => "buckets",
        // "each bucket must span at least 1ms": the window is too short.
        ("sliding_window", "each") => "duration",
        ("gradual_recovery", "duration") => "duration",
        ("gradual_recovery", "start") => "start_percent",
        _ => return e.field().to_owned(),
    };
    format!("{}.{nested}", e.field())
}

impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawConfig::from(self).serialize(s)
    }
}

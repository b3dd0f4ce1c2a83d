//! Reading an [`AdaptiveConfig`] from a file, and writing one back
//! (feature `serde`).
//!
//! Every field is optional; a missing one keeps the builder's default. The
//! values go through the builders, so a file is checked exactly like code:
//! an invalid value is a deserialization error carrying the
//! [`ConfigError`] message, and an unknown field is an error too.

use super::aimd::Aimd;
use super::config::{AdaptiveConfig, Algorithm};
use super::gradient2::Gradient2;
use super::vegas::Vegas;
use ballast_core::ConfigError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// The file's view of an [`AdaptiveConfig`]: everything optional, nothing
/// checked.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    name: Option<String>,
    initial_limit: Option<u32>,
    min_limit: Option<u32>,
    max_limit: Option<u32>,
    min_window_samples: Option<u32>,
    shadow: Option<bool>,
    algorithm: Option<RawAlgorithm>,
}

/// One key naming the algorithm, holding its settings.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RawAlgorithm {
    Aimd(RawAimd),
    Vegas(RawVegas),
    Gradient2(RawGradient2),
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawAimd {
    backoff_ratio: Option<f64>,
    #[serde(with = "ballast_core::duration::option")]
    timeout: Option<Duration>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawVegas {
    alpha: Option<f64>,
    beta: Option<f64>,
    smoothing: Option<f64>,
    slow_start: Option<bool>,
    probe_interval: Option<u32>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawGradient2 {
    smoothing: Option<f64>,
    tolerance: Option<f64>,
    queue_size: Option<u32>,
}

/// Applies `Some` settings to a builder, leaving the rest at default.
macro_rules! apply {
    ($builder:expr, $raw:expr, $($field:ident),*) => {{
        let mut b = $builder;
        $(if let Some(v) = $raw.$field { b = b.$field(v); })*
        b
    }};
}

impl TryFrom<RawAlgorithm> for Algorithm {
    type Error = ConfigError;

    fn try_from(raw: RawAlgorithm) -> Result<Self, ConfigError> {
        Ok(match raw {
            RawAlgorithm::Aimd(r) => {
                Algorithm::Aimd(apply!(Aimd::builder(), r, backoff_ratio, timeout).build()?)
            }
            RawAlgorithm::Vegas(r) => Algorithm::Vegas(
                apply!(
                    Vegas::builder(),
                    r,
                    alpha,
                    beta,
                    smoothing,
                    slow_start,
                    probe_interval
                )
                .build()?,
            ),
            RawAlgorithm::Gradient2(r) => Algorithm::Gradient2(
                apply!(Gradient2::builder(), r, smoothing, tolerance, queue_size).build()?,
            ),
        })
    }
}

impl TryFrom<RawConfig> for AdaptiveConfig {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, ConfigError> {
        let mut b = apply!(
            AdaptiveConfig::builder(),
            raw,
            name,
            initial_limit,
            min_limit,
            max_limit,
            min_window_samples,
            shadow
        );
        if let Some(a) = raw.algorithm {
            b = b.algorithm(Algorithm::try_from(a)?);
        }
        b.build()
    }
}

impl<'de> Deserialize<'de> for AdaptiveConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawConfig::deserialize(d)?;
        // An algorithm's settings sit under its own key, as written.
        let algorithm = match &raw.algorithm {
            Some(RawAlgorithm::Aimd(_)) => "algorithm.aimd",
            Some(RawAlgorithm::Vegas(_)) => "algorithm.vegas",
            Some(RawAlgorithm::Gradient2(_)) => "algorithm.gradient2",
            None => "algorithm",
        };
        AdaptiveConfig::try_from(raw).map_err(|e| {
            // The builders' fields are named as the keys in the file.
            let key = match e.component() {
                "adaptive aimd" | "adaptive vegas" | "adaptive gradient2" => {
                    format!("{algorithm}.{}", e.field())
                }
                _ => e.field().to_owned(),
            };
            ballast_core::config_file::invalid(&e, &key)
        })
    }
}

impl From<&Algorithm> for RawAlgorithm {
    fn from(a: &Algorithm) -> Self {
        match a {
            Algorithm::Aimd(a) => RawAlgorithm::Aimd(RawAimd {
                backoff_ratio: Some(a.backoff_ratio()),
                timeout: Some(a.timeout()),
            }),
            Algorithm::Vegas(v) => RawAlgorithm::Vegas(RawVegas {
                alpha: Some(v.alpha()),
                beta: Some(v.beta()),
                smoothing: Some(v.smoothing()),
                slow_start: Some(v.slow_start()),
                probe_interval: Some(v.probe_interval()),
            }),
            Algorithm::Gradient2(g) => RawAlgorithm::Gradient2(RawGradient2 {
                smoothing: Some(g.smoothing()),
                tolerance: Some(g.tolerance()),
                queue_size: Some(g.queue_size()),
            }),
        }
    }
}

impl From<&AdaptiveConfig> for RawConfig {
    fn from(c: &AdaptiveConfig) -> Self {
        RawConfig {
            name: Some(c.name.to_string()),
            initial_limit: Some(c.initial_limit),
            min_limit: Some(c.min_limit),
            max_limit: Some(c.max_limit),
            min_window_samples: Some(c.min_window_samples),
            shadow: Some(c.shadow),
            algorithm: Some(RawAlgorithm::from(&c.algorithm)),
        }
    }
}

impl Serialize for AdaptiveConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawConfig::from(self).serialize(s)
    }
}

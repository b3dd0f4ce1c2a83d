//! Reading a [`ShedConfig`] from a file, and writing one back (feature
//! `serde`).
//!
//! Every field is optional; a missing one keeps the builder's default. The
//! values go through [`ShedConfigBuilder::build`], so a file is checked
//! exactly like code, and an unknown field is an error.

use super::config::{ShedConfig, ShedConfigBuilder};
use super::priority::Priority;
use ballast_core::ConfigError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The thresholds in percent, each optional.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawThresholds {
    #[serde(skip_serializing_if = "Option::is_none")]
    critical: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    high: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    normal: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    low: Option<u8>,
}

/// The file's view of a [`ShedConfig`]: everything optional, nothing
/// checked.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawShedConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_in_flight: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thresholds: Option<RawThresholds>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shadow: Option<bool>,
}

impl TryFrom<RawShedConfig> for ShedConfig {
    type Error = ConfigError;

    fn try_from(raw: RawShedConfig) -> Result<ShedConfig, ConfigError> {
        let mut b = ShedConfigBuilder::default();
        if let Some(v) = raw.name {
            b = b.name(v);
        }
        if let Some(v) = raw.max_in_flight {
            b = b.max_in_flight(v);
        }
        if let Some(t) = raw.thresholds {
            for (p, v) in [
                (Priority::Critical, t.critical),
                (Priority::High, t.high),
                (Priority::Normal, t.normal),
                (Priority::Low, t.low),
            ] {
                if let Some(v) = v {
                    b = b.threshold(p, v);
                }
            }
        }
        if let Some(v) = raw.shadow {
            b = b.shadow(v);
        }
        b.build()
    }
}

impl From<&ShedConfig> for RawShedConfig {
    fn from(c: &ShedConfig) -> Self {
        let t = c.thresholds;
        RawShedConfig {
            name: Some(c.name.to_string()),
            max_in_flight: Some(c.max_in_flight),
            thresholds: Some(RawThresholds {
                critical: Some(t.percent(Priority::Critical)),
                high: Some(t.percent(Priority::High)),
                normal: Some(t.percent(Priority::Normal)),
                low: Some(t.percent(Priority::Low)),
            }),
            shadow: Some(c.shadow),
        }
    }
}

impl<'de> Deserialize<'de> for ShedConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawShedConfig::deserialize(d)?;
        ShedConfig::try_from(raw).map_err(|e| {
            // The builder's fields are named as this config's keys, but
            // for the thresholds, nested under `thresholds` in the file.
            let key = match e.field().strip_prefix("threshold_") {
                Some(priority) => format!("thresholds.{priority}"),
                None => e.field().to_owned(),
            };
            ballast_core::config_file::invalid(&e, &key)
        })
    }
}

impl Serialize for ShedConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawShedConfig::from(self).serialize(s)
    }
}

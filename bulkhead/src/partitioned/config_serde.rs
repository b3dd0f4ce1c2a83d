//! Reading a [`PartitionedConfig`] from a file, and writing one back
//! (feature `serde`).
//!
//! Every field is optional; a missing one keeps the builder's default. The
//! values go through [`PartitionedConfigBuilder::build`], so a file is
//! checked exactly like code, and an unknown field is an error. Partitions
//! are a list, so their order (the snapshot's) is the file's.

use super::config::{PartitionedConfig, PartitionedConfigBuilder};
use ballast_core::ConfigError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One named partition.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPartition {
    name: String,
    share: u32,
}

/// The file's view of a [`PartitionedConfig`]: everything optional,
/// nothing checked.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPartitionedConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_concurrent_calls: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    partitions: Vec<RawPartition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_partition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kept_free: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shadow: Option<bool>,
}

impl TryFrom<RawPartitionedConfig> for PartitionedConfig {
    type Error = ConfigError;

    fn try_from(raw: RawPartitionedConfig) -> Result<PartitionedConfig, ConfigError> {
        let mut b = PartitionedConfigBuilder::default();
        if let Some(v) = raw.name {
            b = b.name(v);
        }
        if let Some(v) = raw.max_concurrent_calls {
            b = b.max_concurrent_calls(v);
        }
        for p in raw.partitions {
            b = b.partition(p.name, p.share);
        }
        if let Some(v) = raw.default_partition {
            b = b.default_partition(v);
        }
        if let Some(v) = raw.kept_free {
            b = b.kept_free(v);
        }
        if let Some(v) = raw.shadow {
            b = b.shadow(v);
        }
        b.build()
    }
}

impl From<&PartitionedConfig> for RawPartitionedConfig {
    fn from(c: &PartitionedConfig) -> Self {
        RawPartitionedConfig {
            name: Some(c.name.to_string()),
            max_concurrent_calls: Some(c.max_concurrent_calls),
            partitions: c
                .partitions
                .iter()
                .map(|(name, share)| RawPartition {
                    name: name.to_string(),
                    share: *share,
                })
                .collect(),
            default_partition: Some(c.default_partition.to_string()),
            kept_free: Some(c.kept_free),
            shadow: Some(c.shadow),
        }
    }
}

impl<'de> Deserialize<'de> for PartitionedConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawPartitionedConfig::deserialize(d)?;
        PartitionedConfig::try_from(raw).map_err(|e| {
            // The builder's fields are named as this config's keys, but
            // for a partition's problems, found in the list `partitions`.
            let key = match e.field() {
                "partition" => "partitions",
                field => field,
            };
            ballast_core::config_file::invalid(&e, key)
        })
    }
}

impl Serialize for PartitionedConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawPartitionedConfig::from(self).serialize(s)
    }
}

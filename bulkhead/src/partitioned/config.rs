//! [`PartitionedConfig`] and its [`PartitionedConfigBuilder`]: validated
//! settings of a partitioned bulkhead.

use ballast_core::ConfigError;
use std::borrow::Cow;

pub(crate) const COMPONENT: &str = "partitioned bulkhead";

/// A validated partitioned-bulkhead configuration.
///
/// Built with [`PartitionedConfig::builder`]; every value a builder
/// accepts is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionedConfig {
    pub(crate) name: Cow<'static, str>,
    pub(crate) max_concurrent_calls: u32,
    /// The named partitions and their guaranteed shares, in order.
    pub(crate) partitions: Vec<(Cow<'static, str>, u32)>,
    pub(crate) default_partition: Cow<'static, str>,
    pub(crate) kept_free: u32,
    pub(crate) shadow: bool,
}

impl PartitionedConfig {
    /// A builder with the defaults: 25 concurrent calls, no named
    /// partitions (everything in the default partition, `"default"`),
    /// one slot of each share kept free from borrowers, enforcing.
    pub fn builder() -> PartitionedConfigBuilder {
        PartitionedConfigBuilder::default()
    }

    /// The name in `tracing` events.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many calls may be in flight at once, across all partitions.
    pub fn max_concurrent_calls(&self) -> u32 {
        self.max_concurrent_calls
    }

    /// The named partitions and their guaranteed shares, in the order
    /// they were added (the default partition is not among them).
    pub fn partitions(&self) -> impl Iterator<Item = (&str, u32)> {
        self.partitions.iter().map(|(n, s)| (n.as_ref(), *s))
    }

    /// The partition for keys no named partition matches.
    pub fn default_partition(&self) -> &str {
        &self.default_partition
    }

    /// The default partition's guaranteed share: what the named
    /// partitions leave of the limit.
    pub fn default_share(&self) -> u32 {
        self.max_concurrent_calls - self.partitions.iter().map(|(_, s)| s).sum::<u32>()
    }

    /// How many free slots of each partition's share are never lent.
    pub fn kept_free(&self) -> u32 {
        self.kept_free
    }

    /// Whether it only records what it would refuse, admitting everything.
    pub fn shadow(&self) -> bool {
        self.shadow
    }
}

impl Default for PartitionedConfig {
    fn default() -> Self {
        PartitionedConfig::builder()
            .build()
            .expect("the defaults are valid")
    }
}

/// Builds a [`PartitionedConfig`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct PartitionedConfigBuilder {
    name: Cow<'static, str>,
    max_concurrent_calls: u32,
    partitions: Vec<(Cow<'static, str>, u32)>,
    default_partition: Cow<'static, str>,
    kept_free: u32,
    shadow: bool,
}

impl Default for PartitionedConfigBuilder {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("partitioned bulkhead"),
            max_concurrent_calls: 25,
            partitions: Vec::new(),
            default_partition: Cow::Borrowed("default"),
            kept_free: 1,
            shadow: false,
        }
    }
}

impl PartitionedConfigBuilder {
    /// The name in `tracing` events (default `"partitioned bulkhead"`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// How many calls may be in flight at once, across all partitions
    /// (default 25; at least 1, and at least the sum of the shares).
    pub fn max_concurrent_calls(mut self, n: u32) -> Self {
        self.max_concurrent_calls = n;
        self
    }

    /// Adds a partition guaranteed `share` of the concurrent calls (a
    /// tenant, a priority class). Names must be unique and non-empty. What
    /// the named partitions leave of the limit is the default partition's
    /// share. A share of 0 is allowed: that partition only borrows.
    pub fn partition(mut self, name: impl Into<Cow<'static, str>>, share: u32) -> Self {
        self.partitions.push((name.into(), share));
        self
    }

    /// The name of the partition for keys no named partition matches
    /// (default `"default"`).
    pub fn default_partition(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.default_partition = name.into();
        self
    }

    /// How many free slots of each partition's share are kept from
    /// borrowers (default 1): a partition with fewer than this many calls
    /// of its own in flight is always admitted, whatever the others do.
    /// 0 lends every idle slot (an owner may then wait for borrowers to
    /// finish); a value at least the largest share lends nothing.
    pub fn kept_free(mut self, n: u32) -> Self {
        self.kept_free = n;
        self
    }

    /// Shadow mode (default off): decide and record as if enforcing (the
    /// snapshot's `would_have_rejected`), but admit every call. For tuning
    /// shares on live traffic before turning them on.
    pub fn shadow(mut self, shadow: bool) -> Self {
        self.shadow = shadow;
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<PartitionedConfig, ConfigError> {
        if self.max_concurrent_calls == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "max_concurrent_calls",
                "must be at least 1, got 0",
            ));
        }
        if self.default_partition.is_empty() {
            return Err(ConfigError::new(
                COMPONENT,
                "default_partition",
                "must not be empty",
            ));
        }
        if self.partitions.len() >= usize::from(u16::MAX) {
            return Err(ConfigError::new(
                COMPONENT,
                "partition",
                format!(
                    "at most {} partitions, got {}",
                    u16::MAX - 1,
                    self.partitions.len()
                ),
            ));
        }
        let mut sum: u64 = 0;
        for (i, (name, share)) in self.partitions.iter().enumerate() {
            if name.is_empty() {
                return Err(ConfigError::new(
                    COMPONENT,
                    "partition",
                    "a name must not be empty",
                ));
            }
            if *name == self.default_partition
                || self.partitions[..i].iter().any(|(n, _)| n == name)
            {
                return Err(ConfigError::new(
                    COMPONENT,
                    "partition",
                    format!("names must be unique, {name:?} is given twice"),
                ));
            }
            sum += u64::from(*share);
        }
        if sum > u64::from(self.max_concurrent_calls) {
            return Err(ConfigError::new(
                COMPONENT,
                "partition",
                format!(
                    "the shares add up to {sum}, more than max_concurrent_calls ({})",
                    self.max_concurrent_calls
                ),
            ));
        }
        Ok(PartitionedConfig {
            name: self.name,
            max_concurrent_calls: self.max_concurrent_calls,
            partitions: self.partitions,
            default_partition: self.default_partition,
            kept_free: self.kept_free,
            shadow: self.shadow,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_partition_gets_what_the_named_ones_leave() {
        let c = PartitionedConfig::builder()
            .max_concurrent_calls(10)
            .partition("a", 6)
            .partition("b", 3)
            .build()
            .unwrap();
        assert_eq!(c.default_share(), 1);
        assert_eq!(c.partitions().collect::<Vec<_>>(), vec![("a", 6), ("b", 3)]);
    }

    #[test]
    fn shares_above_the_limit_are_a_config_error() {
        let err = PartitionedConfig::builder()
            .max_concurrent_calls(10)
            .partition("a", 6)
            .partition("b", 5)
            .build()
            .unwrap_err();
        assert_eq!((err.component(), err.field()), (COMPONENT, "partition"));
        assert!(err.problem().contains("11"), "{err}");
    }

    #[test]
    fn duplicate_and_empty_names_are_config_errors() {
        let err = PartitionedConfig::builder()
            .partition("a", 1)
            .partition("a", 1)
            .build()
            .unwrap_err();
        assert!(err.problem().contains("unique"), "{err}");
        let err = PartitionedConfig::builder()
            .partition("default", 1)
            .build()
            .unwrap_err();
        assert!(err.problem().contains("unique"), "{err}");
        let err = PartitionedConfig::builder()
            .partition("", 1)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "partition");
        let err = PartitionedConfig::builder()
            .default_partition("")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "default_partition");
    }

    #[test]
    fn zero_max_concurrent_calls_is_a_config_error() {
        let err = PartitionedConfig::builder()
            .max_concurrent_calls(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_concurrent_calls");
    }
}

//! [`PartitionedBulkhead`]: the shared limiter, its operator handle and
//! the plain async helper [`PartitionedBulkhead::call`].

use super::config::PartitionedConfig;
use super::core::Core;
use super::error::PartitionRejected;
use super::layer::PartitionedLayer;
use super::permit::PartitionPermit;
use crate::sync::{AtomicU64, CachePadded, Ordering};
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// Which partition a call counts in: found by name with
/// [`PartitionedBulkhead::partition`], once at setup or per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionId(u16);

impl PartitionId {
    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Per-partition counters, each partition's on a line of its own.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// The partition's own calls in flight (in shadow mode, also those
    /// admitted over the limit).
    pub(crate) running: AtomicU64,
    /// Calls refused (in shadow mode: that would have been).
    pub(crate) rejected: AtomicU64,
}

/// What every clone of a partitioned bulkhead shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) core: Core,
    /// Partition names by index; the default partition is last.
    pub(crate) names: Box<[Arc<str>]>,
    pub(crate) stats: Box<[CachePadded<Stats>]>,
    /// Shadow mode: calls admitted although no slot was free.
    pub(crate) over: CachePadded<AtomicU64>,
    pub(crate) config: PartitionedConfig,
    /// The series reported through the `metrics` facade (the bulkhead as
    /// a whole, not per partition).
    #[cfg(feature = "metrics")]
    pub(crate) export: crate::export::Export,
}

/// A partitioned bulkhead: at most `max_concurrent_calls` calls in flight,
/// split between partitions (tenants, priority classes), each guaranteed
/// its share.
///
/// A call counts in the partition a key function picks for it; keys that
/// match no named partition go to the default partition, which is
/// guaranteed what the named ones leave of the limit. A partition's idle
/// slots are lent to partitions that have used up their own, except the
/// last `kept_free` (default 1), and lent slots come back as the borrowing
/// calls finish. A call that finds no slot is refused at once
/// ([`Reason::BulkheadFull`](crate::Reason::BulkheadFull)); nothing queues.
///
/// # What is guaranteed
///
/// - Never more than `max_concurrent_calls` calls in flight (outside
///   shadow mode).
/// - A call is admitted whenever its partition has a free slot of its
///   share, and borrowers never take a partition's last `kept_free` free
///   slots: a partition with fewer than `kept_free` calls of its own in
///   flight is always admitted, whatever the others do.
/// - A partition at its share borrows idle slots of the others before it
///   is refused. Calls in flight are never cancelled: an owner that needs
///   slots it lent gets them back as the borrowing calls finish, and no new
///   borrower takes them while the owner is down to `kept_free` free.
///
/// (Netflix's partitioned limiter instead lets a partition below its share
/// go over the global limit; this one keeps the limit hard.)
///
/// ```
/// use ballast_bulkhead::partitioned::{PartitionedBulkhead, PartitionedConfig};
/// use ballast_bulkhead::Reason;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let bulkhead = PartitionedBulkhead::new(
///     PartitionedConfig::builder()
///         .max_concurrent_calls(2)
///         .partition("checkout", 1)
///         .partition("batch", 1)
///         .build()
///         .unwrap(),
/// );
/// let (checkout, batch) = (bulkhead.partition("checkout"), bulkhead.partition("batch"));
/// bulkhead
///     .call(batch, || async {
///         // Batch holds its one slot; checkout's slot is its own.
///         let err = bulkhead.call(batch, || async {}).await.unwrap_err();
///         assert_eq!((err.reason(), err.partition()), (Reason::BulkheadFull, "batch"));
///         assert_eq!(bulkhead.call(checkout, || async { 1 }).await, Ok(1));
///     })
///     .await
///     .unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct PartitionedBulkhead {
    pub(crate) shared: Arc<Shared>,
}

/// What a partitioned bulkhead is doing, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionedSnapshot {
    /// Calls in flight, across partitions (in shadow mode, possibly above
    /// the limit).
    pub in_flight: u64,
    /// The most calls in flight.
    pub limit: u64,
    /// Calls refused so far (0 in shadow mode).
    pub rejected: u64,
    /// In shadow mode: calls that would have been refused (0 otherwise).
    pub would_have_rejected: u64,
    /// Whether the bulkhead is in shadow mode.
    pub shadow: bool,
    /// Each partition, in config order, the default partition last.
    pub partitions: Vec<PartitionSnapshot>,
}

/// One partition of a [`PartitionedSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionSnapshot {
    /// The partition's name.
    pub name: Arc<str>,
    /// Its guaranteed share of the limit.
    pub share: u64,
    /// Its own calls in flight, in its share or borrowed.
    pub in_flight: u64,
    /// Slots of its share taken, by its own calls or lent to others.
    pub share_used: u64,
    /// Its calls refused so far (in shadow mode: that would have been).
    pub rejected: u64,
}

impl PartitionedBulkhead {
    /// A partitioned bulkhead with `config`.
    pub fn new(config: PartitionedConfig) -> Self {
        let mut shares: Vec<u32> = config.partitions.iter().map(|(_, s)| *s).collect();
        shares.push(config.default_share());
        let names = config
            .partitions
            .iter()
            .map(|(n, _)| n)
            .chain([&config.default_partition])
            .map(|n| Arc::<str>::from(n.as_ref()))
            .collect();
        let stats = shares.iter().map(|_| CachePadded::default()).collect();
        Self {
            shared: Arc::new(Shared {
                core: Core::new(&shares, config.kept_free),
                names,
                stats,
                over: CachePadded(AtomicU64::new(0)),
                #[cfg(feature = "metrics")]
                export: crate::export::Export::new(&config.name, config.max_concurrent_calls),
                config,
            }),
        }
    }

    /// The partition named `name`, or the default partition if none is.
    /// A linear scan without allocation: fine per request for a handful
    /// of partitions; resolve once at setup when the set is fixed.
    pub fn partition(&self, name: &str) -> PartitionId {
        let names = &self.shared.names;
        let i = names[..names.len() - 1]
            .iter()
            .position(|n| n.as_ref() == name)
            .unwrap_or(names.len() - 1);
        // In range: the config allows fewer than u16::MAX partitions.
        PartitionId(i as u16)
    }

    /// The default partition, for keys no named partition matches.
    pub fn default_partition(&self) -> PartitionId {
        PartitionId((self.shared.names.len() - 1) as u16)
    }

    /// The name of partition `id`.
    pub fn partition_name(&self, id: PartitionId) -> &str {
        &self.shared.names[id.index()]
    }

    /// The tower layer that puts services behind this bulkhead, with
    /// `key` picking each request's partition (for example from a tenant
    /// header, with [`partition`](Self::partition)).
    pub fn layer<F>(&self, key: F) -> PartitionedLayer<F> {
        PartitionedLayer::new(self.clone(), key)
    }

    /// The config it was built with.
    pub fn config(&self) -> &PartitionedConfig {
        &self.shared.config
    }

    /// In flight, limit and refusals now, in total and per partition.
    pub fn snapshot(&self) -> PartitionedSnapshot {
        let s = &self.shared;
        let partitions: Vec<PartitionSnapshot> = (0..s.names.len())
            .map(|i| PartitionSnapshot {
                name: s.names[i].clone(),
                share: s.core.share(i),
                // Relaxed: statistics.
                in_flight: s.stats[i].running.load(Ordering::Relaxed),
                share_used: s.core.used(i),
                rejected: s.stats[i].rejected.load(Ordering::Relaxed),
            })
            .collect();
        let refused = partitions.iter().map(|p| p.rejected).sum();
        let shadow = s.config.shadow;
        PartitionedSnapshot {
            // Relaxed: a statistic.
            in_flight: s.core.total() + s.over.load(Ordering::Relaxed),
            limit: u64::from(s.config.max_concurrent_calls),
            rejected: if shadow { 0 } else { refused },
            would_have_rejected: if shadow { refused } else { 0 },
            shadow,
            partitions,
        }
    }

    /// Runs `f()`'s future holding a slot for partition `id`, given back
    /// when the future finishes or is dropped; refuses at once, without
    /// calling `f`, if the partition has no slot of its own and none to
    /// borrow.
    pub async fn call<F, Fut>(
        &self,
        id: PartitionId,
        f: F,
    ) -> Result<Fut::Output, PartitionRejected>
    where
        F: FnOnce() -> Fut,
        Fut: Future,
    {
        let _permit = PartitionPermit::admit(&self.shared, id)?;
        Ok(f().await)
    }
}

impl fmt::Debug for PartitionedBulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionedBulkhead")
            .field("name", &self.shared.config.name)
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

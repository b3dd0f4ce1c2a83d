//! [`PartitionRejected`]: a refusal that names the partition.

use ballast_core::{Reason, Rejected};
use std::fmt;
use std::sync::Arc;

/// A call refused by a [`PartitionedBulkhead`](super::PartitionedBulkhead),
/// with the partition it was counted in.
///
/// The plain async helper returns it. The tower service boxes the inner
/// [`Rejected`] instead, as every ballast layer does, so a stack needs one
/// `downcast_ref::<Rejected>()` whatever refused; the partition is in the
/// rejection's `tracing` event and in the snapshot's per-partition counts.
///
/// Display is lowercase without a period: `bulkhead full in partition "batch"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRejected {
    partition: Arc<str>,
    rejected: Rejected,
}

impl PartitionRejected {
    pub(crate) fn new(partition: Arc<str>, rejected: Rejected) -> Self {
        Self {
            partition,
            rejected,
        }
    }

    /// The partition the call was counted in.
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// Why it was refused and when to retry, as every ballast policy says.
    pub fn rejected(&self) -> &Rejected {
        &self.rejected
    }

    /// Why it was refused.
    pub fn reason(&self) -> Reason {
        self.rejected.reason()
    }
}

impl From<PartitionRejected> for Rejected {
    fn from(r: PartitionRejected) -> Self {
        r.rejected
    }
}

impl fmt::Display for PartitionRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in partition {:?}", self.rejected, self.partition)
    }
}

impl std::error::Error for PartitionRejected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.rejected)
    }
}

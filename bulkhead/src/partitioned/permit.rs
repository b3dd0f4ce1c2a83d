//! [`PartitionPermit`]: an admitted call's slot, given back on drop; and
//! the refusal (or, in shadow mode, the admission over the limit) of a
//! call that finds none.

use super::bulkhead::{PartitionId, Shared};
use super::error::PartitionRejected;
use crate::sync::Ordering;
use ballast_core::{Reason, Rejected};
use std::sync::Arc;

/// Where a held call's slot is.
#[derive(Debug, Clone, Copy)]
enum Held {
    /// In this pool.
    Pool(usize),
    /// Nowhere: admitted over the limit in shadow mode.
    Over,
}

/// An admitted call's slot, given back when dropped.
#[derive(Debug)]
pub(crate) struct PartitionPermit {
    shared: Arc<Shared>,
    owner: usize,
    held: Held,
}

impl PartitionPermit {
    /// Admits a call of `id` on `shared`, or refuses it.
    #[inline]
    pub(crate) fn admit(shared: &Arc<Shared>, id: PartitionId) -> Result<Self, PartitionRejected> {
        // An id from another bulkhead with more partitions counts in the
        // default partition rather than panicking.
        let owner = id.index().min(shared.names.len() - 1);
        let held = match shared.core.acquire(owner) {
            Some(slot) => Held::Pool(slot.pool(owner)),
            None => shared.refuse(owner)?,
        };
        // Relaxed: a statistic.
        shared.stats[owner].running.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        shared.export.acquired();
        Ok(Self {
            shared: shared.clone(),
            owner,
            held,
        })
    }
}

impl Drop for PartitionPermit {
    #[inline]
    fn drop(&mut self) {
        let s = &self.shared;
        // Relaxed: a statistic.
        s.stats[self.owner].running.fetch_sub(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        s.export.released();
        match self.held {
            Held::Pool(pool) => s.core.release(pool),
            // Relaxed: a statistic; no slot changes hands.
            Held::Over => {
                s.over.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl Shared {
    /// No slot for a call of partition `owner`: refuse it, or in shadow
    /// mode record that and admit it over the limit.
    #[cold]
    fn refuse(&self, owner: usize) -> Result<Held, PartitionRejected> {
        // Relaxed: a statistic.
        self.stats[owner].rejected.fetch_add(1, Ordering::Relaxed);
        let partition = &self.names[owner];
        if self.config.shadow {
            // Relaxed: a statistic.
            self.over.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                bulkhead = %self.config.name,
                partition = %partition,
                "call would have been rejected (shadow mode)"
            );
            return Ok(Held::Over);
        }
        let rejected = Rejected::retry_later(Reason::BulkheadFull);
        #[cfg(feature = "metrics")]
        self.export.refused(&rejected);
        tracing::debug!(
            bulkhead = %self.config.name,
            partition = %partition,
            reason = %rejected,
            "call rejected"
        );
        Err(PartitionRejected::new(partition.clone(), rejected))
    }
}

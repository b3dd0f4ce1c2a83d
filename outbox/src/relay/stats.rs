//! What a running relay has done, as counters and a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters the relay's tasks add to. Every ordering is `Relaxed`: each
/// counter is read on its own for reporting, and nothing is synchronised
/// through them.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub published: AtomicU64,
    pub refused: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub not_sent: AtomicU64,
    pub batches: AtomicU64,
    pub leases_acquired: AtomicU64,
    pub leases_lost: AtomicU64,
    pub leases_released: AtomicU64,
    pub partitions: AtomicU64,
    pub database_errors: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A snapshot of a relay's work since it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayStats {
    /// Messages the broker acknowledged and the relay recorded.
    pub published: u64,
    /// Publishes the broker refused (each counts toward the message's
    /// attempts).
    pub refused: u64,
    /// Messages moved to the dead letters.
    pub dead_lettered: u64,
    /// Messages left for a later batch because the broker was unavailable,
    /// the circuit was open, the retry budget was spent or the batch ran
    /// out of time. They do not count against the message.
    pub not_sent: u64,
    /// Batches claimed.
    pub batches: u64,
    /// Retries of publishes (from the retry policy).
    pub retries: u64,
    /// Retries the retry budget refused.
    pub retry_budget_denied: u64,
    /// Partition leases taken.
    pub leases_acquired: u64,
    /// Partition leases found taken over by another relay.
    pub leases_lost: u64,
    /// Partition leases given back (rebalancing or shutdown).
    pub leases_released: u64,
    /// Partitions this relay holds now.
    pub partitions: u64,
    /// Database errors met (each followed by a back-off and a retry).
    pub database_errors: u64,
    /// The broker circuit's state.
    pub breaker: ballast_circuit_breaker::State,
}

//! A point-in-time view of a hedging policy's counts.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a [`HedgePolicy`](crate::HedgePolicy) has done since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HedgeMetrics {
    /// Calls made through the policy (original requests).
    pub calls: u64,
    /// Backup requests sent.
    pub hedges_sent: u64,
    /// Calls answered by a backup rather than by their first attempt.
    pub hedges_won: u64,
    /// Backups not sent because the hedge budget was spent.
    pub budget_denied: u64,
    /// Backups not sent because the call's deadline left too little time.
    pub deadline_denied: u64,
    /// Calls that waited the delay but whose request could not be copied,
    /// so that no backup could be sent.
    pub not_cloneable: u64,
}

/// The counters behind [`HedgeMetrics`].
#[derive(Debug, Default)]
pub(crate) struct HedgeStats {
    calls: AtomicU64,
    hedges_sent: AtomicU64,
    hedges_won: AtomicU64,
    budget_denied: AtomicU64,
    deadline_denied: AtomicU64,
    not_cloneable: AtomicU64,
}

// Relaxed throughout: each counter is a standalone statistic.
impl HedgeStats {
    #[inline]
    pub(crate) fn call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn hedge_sent(&self) {
        self.hedges_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn hedge_won(&self) {
        self.hedges_won.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn budget_denied(&self) {
        self.budget_denied.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn deadline_denied(&self) {
        self.deadline_denied.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn not_cloneable(&self) {
        self.not_cloneable.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> HedgeMetrics {
        HedgeMetrics {
            calls: self.calls.load(Ordering::Relaxed),
            hedges_sent: self.hedges_sent.load(Ordering::Relaxed),
            hedges_won: self.hedges_won.load(Ordering::Relaxed),
            budget_denied: self.budget_denied.load(Ordering::Relaxed),
            deadline_denied: self.deadline_denied.load(Ordering::Relaxed),
            not_cloneable: self.not_cloneable.load(Ordering::Relaxed),
        }
    }
}

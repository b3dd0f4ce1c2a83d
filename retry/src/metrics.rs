//! A point-in-time view of a policy's counts, for dashboards and tests.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a [`Policy`](crate::Policy) has done since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Metrics {
    /// Calls made through the policy (original requests).
    pub calls: u64,
    /// Attempts started: `calls + retries - expired`.
    pub attempts: u64,
    /// Retries started.
    pub retries: u64,
    /// Retries refused because the budget was spent.
    pub budget_denied: u64,
    /// Calls whose last result was retryable but that stopped anyway
    /// (attempts used up, request not cloneable, deadline or total time
    /// too close, budget spent); each returned that last result.
    pub gave_up: u64,
    /// Calls of the plain helper refused before their first attempt
    /// because their deadline had already passed (they end with the
    /// deadline's rejection; no attempt is counted). The layer leaves that
    /// to the deadline layer below it.
    pub expired: u64,
}

/// The counters behind [`Metrics`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Calls, when the budget does not count them (see `Shared::begin`).
    calls: AtomicU64,
    retries: AtomicU64,
    budget_denied: AtomicU64,
    gave_up: AtomicU64,
    expired: AtomicU64,
}

// Relaxed throughout: each counter is a standalone statistic.
impl Stats {
    /// Counts a call: one atomic add.
    #[inline(always)]
    pub(crate) fn call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn budget_denied(&self) {
        self.budget_denied.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn gave_up(&self) {
        self.gave_up.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn expired(&self) {
        self.expired.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Metrics {
        let calls = self.calls.load(Ordering::Relaxed);
        let retries = self.retries.load(Ordering::Relaxed);
        let expired = self.expired.load(Ordering::Relaxed);
        Metrics {
            calls,
            attempts: (calls + retries).saturating_sub(expired),
            retries,
            budget_denied: self.budget_denied.load(Ordering::Relaxed),
            gave_up: self.gave_up.load(Ordering::Relaxed),
            expired,
        }
    }
}

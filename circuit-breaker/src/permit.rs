//! Permits: whatever a call holds, as a guard that records exactly one
//! outcome however the call ends.
//!
//! A [`Permit`] records what its owner says ([`Permit::success`],
//! [`Permit::failure`], [`Permit::record`]). Dropped without a word (the
//! call was cancelled, or its task panicked) it records on its own: a
//! panic counts as a failure; a cancellation counts as nothing by default
//! (or as a failure with `cancelled_is_failure`) and in half-open always
//! gives back its probe slot. Because the record happens in `Drop`, a
//! caller cannot forget to hand a permit back, and half-open cannot be left
//! waiting for probes that never report (resilience4j's "stuck in
//! half-open").

use crate::breaker::Shared;
use crate::classify::Outcome;
use crate::core::Ticket;
use std::fmt;

/// Something that leads to a breaker's shared state: an `Arc`, or a
/// borrow for the async helper, whose future lives no longer than the breaker.
pub(crate) trait Holder {
    fn shared(&self) -> &Shared;
}

impl Holder for &Shared {
    fn shared(&self) -> &Shared {
        self
    }
}

/// An admitted call's ticket plus the way back to its breaker; records
/// once, on `finish` or on drop.
pub(crate) struct Guard<H: Holder> {
    holder: H,
    ticket: Ticket,
    armed: bool,
}

impl<H: Holder> Guard<H> {
    pub(crate) fn new(holder: H, ticket: Ticket) -> Self {
        Self {
            holder,
            ticket,
            armed: true,
        }
    }

    pub(crate) fn holder(&self) -> &H {
        &self.holder
    }

    /// Records `outcome`; the drop that follows records nothing.
    #[inline]
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.armed = false;
        let shared = self.holder.shared();
        shared.core.finish(self.ticket, outcome, &shared.clock);
    }
}

impl<H: Holder> Drop for Guard<H> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let shared = self.holder.shared();
        let outcome = if std::thread::panicking() || shared.core.config.cancelled_is_failure {
            Outcome::Failure
        } else {
            Outcome::Ignore
        };
        shared.core.finish(self.ticket, outcome, &shared.clock);
    }
}

impl<H: Holder> fmt::Debug for Guard<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("ticket", &self.ticket)
            .field("armed", &self.armed)
            .finish()
    }
}

/// Permission for one call, from [`Breaker::try_acquire`](crate::Breaker::try_acquire),
/// for code that drives the breaker by hand.
///
/// Say how the call went with one of the methods below; a permit dropped
/// without one records a cancellation (or a failure, if the thread is
/// panicking), so it can never be lost.
#[derive(Debug)]
#[must_use = "a permit records a cancellation if dropped unused"]
pub struct Permit {
    pub(crate) guard: Guard<crate::Breaker>,
}

impl Permit {
    /// The call succeeded.
    pub fn success(self) {
        self.guard.finish(Outcome::Success);
    }

    /// The call failed.
    pub fn failure(self) {
        self.guard.finish(Outcome::Failure);
    }

    /// The call counts as nothing (a probe slot is given back).
    pub fn ignore(self) {
        self.guard.finish(Outcome::Ignore);
    }

    /// Records `outcome`.
    pub fn record(self, outcome: Outcome) {
        self.guard.finish(outcome);
    }
}

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
use crate::state::Word;
use std::fmt;

/// Something that leads to a breaker's shared state: an `Arc`, or a
/// borrow for the async helper, whose future lives no longer than the breaker.
pub trait Holder {
    fn shared(&self) -> &Shared;
}

impl Holder for &Shared {
    #[inline]
    fn shared(&self) -> &Shared {
        self
    }
}

/// An admitted call's ticket plus the way back to its breaker; records
/// once, on `finish` or on drop.
pub(crate) struct Guard<H: Holder> {
    holder: H,
    /// Set to `DONE` once recorded (no separate flag: the guard is moved
    /// through the call's future, and two plain words move cheapest).
    ticket: Ticket,
}

/// A word no state ever has: generation `u64::MAX >> 3` is never reached.
const DONE: Word = Word(u64::MAX);

impl<H: Holder> Guard<H> {
    pub(crate) fn new(holder: H, ticket: Ticket) -> Self {
        Self { holder, ticket }
    }

    pub(crate) fn holder(&self) -> &H {
        &self.holder
    }

    /// Records `outcome`, once: later calls and the drop record nothing.
    /// Works in place, so the guard is not moved out of the call's future
    /// (a wide copy of a freshly written guard stalls the CPU).
    #[inline]
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        let word = std::mem::replace(&mut self.ticket.word, DONE);
        if word == DONE {
            return;
        }
        let shared = self.holder.shared();
        let ticket = Ticket {
            word,
            start: self.ticket.start,
        };
        shared.core.finish(ticket, outcome, &shared.clock);
    }
}

impl Guard<&Shared> {
    /// The same admission, guarded by `holder` (a holder of the same
    /// breaker) from now on; nothing is recorded.
    #[inline]
    pub(crate) fn hand_to<H: Holder>(self, holder: H) -> Guard<H> {
        let ticket = self.ticket;
        // Nothing to release: the ticket lives on in the new guard.
        std::mem::forget(self);
        Guard { holder, ticket }
    }
}

impl<H: Holder> Drop for Guard<H> {
    #[inline]
    fn drop(&mut self) {
        if self.ticket.word != DONE {
            self.record_unfinished();
        }
    }
}

impl<H: Holder> Guard<H> {
    /// Dropped without an outcome: cancelled, or unwinding from a panic.
    #[cold]
    fn record_unfinished(&mut self) {
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
    pub fn success(mut self) {
        self.guard.finish(Outcome::Success);
    }

    /// The call failed.
    pub fn failure(mut self) {
        self.guard.finish(Outcome::Failure);
    }

    /// The call counts as nothing (a probe slot is given back).
    pub fn ignore(mut self) {
        self.guard.finish(Outcome::Ignore);
    }

    /// Records `outcome`.
    pub fn record(mut self, outcome: Outcome) {
        self.guard.finish(outcome);
    }
}

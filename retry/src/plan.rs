//! One call's way through its attempts: after each result, return it,
//! retry after a delay, or stop. Shared by the service's future and the
//! plain helper.
//!
//! A result that is a refusal from a layer below (a ballast [`Rejected`]:
//! an open circuit, a full bulkhead, a rate limit...) is retried only if
//! the classifier says so, like any other, and then never when the
//! refusal is permanent ([`RetryAfter::Never`]) and never before its
//! retry-after (nor at all when that lies past the deadline or the total
//! time limit). The rule is here, once, for every classifier.

use crate::backoff::Delays;
use crate::budget::Withdrawal;
use crate::classify::Action;
use crate::policy::Shared;
use crate::rare::Rare;
use ballast_core::{Rejected, RetryAfter, saturating_add};
use ballast_deadline::Deadline;
use std::time::Duration;
use tokio::time::Instant;

/// Why a call stopped with a retryable result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Attempts,
    NotCloneable,
    Deadline,
    MaxTotalTime,
    Budget,
    Refused,
}

impl Stop {
    fn as_str(self) -> &'static str {
        match self {
            Stop::Attempts => "attempts used up",
            Stop::NotCloneable => "request cannot be cloned",
            Stop::Deadline => "deadline too close for another attempt",
            Stop::MaxTotalTime => "total time limit too close for another attempt",
            Stop::Budget => "retry budget spent",
            Stop::Refused => "refused for good by a layer below",
        }
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Give the result to the caller.
    Return,
    /// Retry after this delay.
    Retry(Duration),
    /// No more attempts, for this reason: give the result to the caller
    /// (it was retryable, but another attempt is not allowed).
    Stop(Stop),
}

/// A call's progress. Reads the clock only when the call has a deadline or
/// a total time limit.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// Attempts started so far.
    attempt: u32,
    deadline: Option<Deadline>,
    /// When the call began, if anything is timed.
    started: Option<Instant>,
    /// Made at the first retry, so a call that succeeds draws no
    /// randomness and carries nothing more to drop (the drop glue of
    /// `Retrying`, where a held withdrawal gives its retry back, is out of
    /// line).
    retrying: Rare<Box<Retrying>>,
}

/// What a call that retries keeps between its attempts.
#[derive(Debug)]
struct Retrying {
    delays: Delays,
    /// When the latest retry began, if anything is timed (the first
    /// attempt began at the call's `started`).
    attempt_started: Option<Instant>,
    /// The retry taken from the budget for the next attempt, from the
    /// decision to retry until the attempt starts: dropping the call
    /// during its backoff drops this and gives the retry back.
    held: Option<Withdrawal>,
}

impl Tracker {
    /// A call about to make its first attempt, under `deadline`.
    #[inline]
    pub(crate) fn start<C>(shared: &Shared<C>, deadline: Option<Deadline>) -> Self {
        let timed = deadline.is_some() || shared.config.max_total_time.is_some();
        let started = if timed { Some(Instant::now()) } else { None };
        // Every attempt, delay and give-up emits an event with the attempt
        // number. The first attempt's is at TRACE, so a subscriber that
        // shows DEBUG sees only what retrying added; with none listening
        // it is one load of tracing's global level.
        tracing::trace!(attempt = 1u32, "retry: attempt");
        Self {
            attempt: 1,
            deadline,
            started,
            retrying: Rare::none(),
        }
    }

    /// Whether the call's deadline had already passed when it began, so
    /// not even its first attempt may start (the helper asks; the layer
    /// leaves that to the deadline layer below it). Counted and traced
    /// here; the caller then ends the call with the deadline's rejection.
    #[inline]
    pub(crate) fn expired<C>(&self, shared: &Shared<C>) -> bool {
        let (Some(deadline), Some(started)) = (self.deadline, self.started) else {
            return false;
        };
        if deadline.instant() > started {
            return false;
        }
        self.count_expired(shared);
        true
    }

    /// Counts and traces a call refused because its deadline had passed.
    #[cold]
    fn count_expired<C>(&self, shared: &Shared<C>) {
        shared.stats.expired();
        #[cfg(feature = "metrics")]
        shared.export.expired();
        tracing::debug!(
            attempt = self.attempt,
            "retry: deadline already passed; no attempt made"
        );
    }

    /// The attempt the call is on (1 for the first).
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Another attempt is starting now (after [`Next::Retry`]'s delay):
    /// the retry it spends is counted now.
    pub(crate) fn attempt_starting<C>(&mut self, shared: &Shared<C>) {
        if let Some(retrying) = self.retrying.0.as_mut() {
            if let Some(held) = retrying.held.take() {
                held.spend();
            }
            if self.started.is_some() {
                retrying.attempt_started = Some(Instant::now());
            }
        }
        shared.stats.retry();
        #[cfg(feature = "metrics")]
        shared.export.retry();
        tracing::debug!(attempt = self.attempt, "retry: attempt");
    }

    /// Decides what follows a result the classifier called `action`;
    /// `refusal` is the ballast refusal the result is, if it is one (see
    /// the module docs). A retry's budget is withdrawn here (and given
    /// back if the call is dropped before the retry starts); `can_clone`
    /// says whether the request can be sent again. On [`Next::Return`]
    /// and [`Next::Stop`] alike the caller gets a real outcome: this
    /// result, or, when this result is a refusal, the latest attempt that
    /// was not one (a call that stops retrying never hands back a made-up
    /// error).
    pub(crate) fn after<C>(
        &mut self,
        shared: &Shared<C>,
        action: Action,
        refusal: Option<&Rejected>,
        can_clone: bool,
    ) -> Next {
        let floor = match action {
            Action::Return => return Next::Return,
            Action::Retry => Duration::ZERO,
            Action::RetryAfter(at_least) => at_least,
        };
        let planned = match refusal.map(Rejected::retry_after_value) {
            Some(RetryAfter::Never) => Err(Stop::Refused),
            Some(RetryAfter::After(wait)) => self.plan(shared, floor.max(wait), can_clone),
            Some(RetryAfter::Unknown) | None => self.plan(shared, floor, can_clone),
        };
        match planned {
            Ok(delay) => {
                #[cfg(feature = "metrics")]
                shared.export.withdrew(&shared.budget);
                self.attempt += 1;
                tracing::debug!(
                    attempt = self.attempt,
                    delay = ?delay,
                    "retry: transient failure; retrying after a delay"
                );
                Next::Retry(delay)
            }
            Err(stop) => {
                shared.stats.gave_up();
                if stop == Stop::Budget {
                    shared.stats.budget_denied();
                }
                #[cfg(feature = "metrics")]
                shared.export.gave_up(stop, &shared.budget);
                tracing::debug!(
                    attempt = self.attempt,
                    reason = stop.as_str(),
                    "retry: giving up"
                );
                Next::Stop(stop)
            }
        }
    }

    /// The delay before the next attempt, or why there is none. `floor`
    /// is the least the delay may be (a server's retry-after).
    fn plan<C>(
        &mut self,
        shared: &Shared<C>,
        floor: Duration,
        can_clone: bool,
    ) -> Result<Duration, Stop> {
        let config = &shared.config;
        if self.attempt >= config.max_attempts {
            return Err(Stop::Attempts);
        }
        if !can_clone {
            return Err(Stop::NotCloneable);
        }
        let retrying = self.retrying.0.get_or_insert_with(|| {
            Box::new(Retrying {
                delays: shared.delays(),
                attempt_started: None,
                held: None,
            })
        });
        let attempt_started = retrying.attempt_started.or(self.started);
        let mut delay = retrying.delays.next().unwrap_or_default().max(floor);
        if let Some(started) = self.started {
            let now = Instant::now();
            let total = config
                .max_total_time
                .map(|t| (saturating_add(started, t), Stop::MaxTotalTime));
            let deadline = self.deadline.map(|d| (d.instant(), Stop::Deadline));
            let bound = match (deadline, total) {
                (Some(d), Some(t)) => Some(if d.0 <= t.0 { d } else { t }),
                (d, t) => d.or(t),
            };
            if let Some((bound, why)) = bound {
                let remaining = bound.saturating_duration_since(now);
                let last = now.saturating_duration_since(attempt_started.unwrap_or(now));
                let need = config.min_attempt_time.max(last);
                // Stop if even an immediate attempt would not have more
                // than it needs, or the server asked for a longer wait
                // than is left.
                let room = remaining
                    .checked_sub(need)
                    .filter(|room| !room.is_zero() && *room >= floor);
                delay = delay.min(room.ok_or(why)?);
            }
        }
        let held = shared.budget.withdraw().ok_or(Stop::Budget)?;
        if let Some(retrying) = &mut self.retrying.0 {
            retrying.held = Some(held);
        }
        Ok(delay)
    }
}

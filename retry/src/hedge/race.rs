//! [`Race`]: one call's attempts racing each other, and the timer that
//! starts the backups. The tower future and the plain helper both run a
//! `Race`; they differ only in how an attempt is launched ([`Launch`]).
//!
//! The first attempt lives inline; its timer too (a `Sleep`, made and
//! armed only when the first poll of the first attempt is pending). The
//! backups, and the budget taken for the next one, live in one box made
//! only when the first backup is due, so a call answered before drops in
//! one check. The first answer ends the race: every other attempt is dropped at once
//! (cancelled), and so is the timer.
//!
//! An attempt refused by a layer below (its error is a ballast
//! `Rejected`: an open circuit, a full bulkhead...) does not win while
//! another attempt is in flight: it is dropped, no further backup is sent
//! (the layer below would refuse it too), and the call waits for the
//! attempts still running. Only the last attempt standing may end the call
//! with a refusal.

use super::policy::HedgeShared;
use crate::budget::Withdrawal;
use crate::rare::Rare;
use crate::refusal::Outcome;
use ballast_core::saturating_add;
use ballast_deadline::Deadline;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// How a race starts its backup attempts.
pub(crate) trait Launch {
    /// An attempt.
    type Future: Future;

    /// The policy the race runs under.
    fn shared(&self) -> &HedgeShared;

    /// False when no backup can ever be launched (the request could not
    /// be copied).
    fn can_hedge(&self) -> bool;

    /// A backup attempt, once one can be started; `None` when it cannot
    /// (the service failed to become ready, the request cannot be copied).
    fn poll_launch(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::Future>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No timer yet: the first attempt has not been seen pending.
    Idle,
    /// The timer runs until the next backup is due.
    Armed,
    /// A backup is due and paid for (the withdrawal is held); waiting for
    /// the service to be ready.
    Launching,
    /// No more backups for this call.
    Done,
}

pin_project! {
    /// One call's attempts; the first answer wins.
    #[project = RaceProj]
    pub(crate) struct Race<F, L> {
        #[pin]
        first: Option<F>,
        // Only made when the first attempt is seen pending.
        #[pin]
        timer: Option<Sleep>,
        // Backups and the budget held for the next one: made when the
        // first backup is due.
        hedging: Rare<Box<Hedging<F>>>,
        launcher: L,
        // When the first attempt was first seen pending (the clock is not
        // read for a call answered on its first poll).
        start: Option<Instant>,
        deadline: Option<Deadline>,
        phase: Phase,
        // Backups sent so far.
        sent: u32,
    }
}

/// What a race keeps once a backup is due.
struct Hedging<F> {
    /// Backups sent, in order.
    backups: Vec<Pin<Box<F>>>,
    /// The budget taken for the backup being launched, from the timer
    /// firing until the backup is sent: if it never is (the service failed
    /// to become ready, the request could not be copied, an attempt
    /// answered first, the call was dropped), dropping it gives the budget
    /// back.
    held: Option<Withdrawal>,
}

impl<F> Default for Hedging<F> {
    fn default() -> Self {
        Self {
            backups: Vec::new(),
            held: None,
        }
    }
}

impl<F> Hedging<F> {
    /// Backups in flight, in a race that may have none yet.
    fn in_flight(hedging: &Rare<Box<Self>>) -> usize {
        hedging.0.as_ref().map_or(0, |h| h.backups.len())
    }
}

impl<F, L> Race<F, L> {
    /// A race whose first attempt is `first`.
    #[inline]
    pub(crate) fn new(first: F, launcher: L, deadline: Option<Deadline>) -> Self {
        Self {
            first: Some(first),
            timer: None,
            hedging: Rare::none(),
            launcher,
            start: None,
            deadline,
            phase: Phase::Idle,
            sent: 0,
        }
    }

    /// Attempts started so far, the first included.
    pub(crate) fn attempts(&self) -> u32 {
        self.sent + 1
    }
}

/// True if a backup sent at `at` leaves it `min` before the deadline.
fn fits(deadline: Option<Deadline>, at: Instant, min: Duration) -> bool {
    match deadline {
        None => true,
        Some(d) => {
            let left = d.remaining_at(at);
            !left.is_zero() && left >= min
        }
    }
}

impl<F, L> Future for Race<F, L>
where
    L: Launch<Future = F>,
    F: Future<Output: Outcome>,
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        loop {
            if let Some(first) = this.first.as_mut().as_pin_mut() {
                if let Poll::Ready(out) = first.poll(cx) {
                    // A backup in flight outlives a refused first attempt.
                    if Hedging::in_flight(this.hedging) == 0 || !out.is_refusal() {
                        finish(&mut this, 0);
                        return Poll::Ready(out);
                    }
                    this.first.set(None);
                    refused(&mut this);
                }
            }
            let mut i = 0;
            while let Some(h) = this.hedging.0.as_mut()
                && i < h.backups.len()
            {
                let Poll::Ready(out) = h.backups[i].as_mut().poll(cx) else {
                    i += 1;
                    continue;
                };
                let others = this.first.is_some() || h.backups.len() > 1;
                if others && out.is_refusal() {
                    // Dropped; the attempts still in flight answer instead.
                    drop(h.backups.remove(i));
                    refused(&mut this);
                    continue;
                }
                finish(&mut this, i + 1);
                return Poll::Ready(out);
            }
            // Ready: a backup was launched and must be polled.
            ready!(schedule(&mut this, cx));
        }
    }
}

/// Ends the race won by attempt `winner` (0: the first): counts and
/// measures it, and cancels the others.
#[inline]
fn finish<F, L: Launch>(this: &mut RaceProj<'_, F, L>, winner: usize) {
    if *this.phase == Phase::Idle {
        // Answered on its first poll: no timer, no backup, no start; the
        // common case stops here.
        this.first.set(None);
        *this.phase = Phase::Done;
        return;
    }
    finish_race(this, winner);
}

/// [`finish`] for a call that was pending.
#[inline(never)]
fn finish_race<F, L: Launch>(this: &mut RaceProj<'_, F, L>, winner: usize) {
    let shared = this.launcher.shared();
    // Only a call that was pending has a start, and is measured: one
    // answered on its first poll could never have been hedged.
    if let Some(start) = *this.start {
        if shared.measures() {
            shared.record(start, Instant::now());
        }
    }
    if winner > 0 {
        shared.stats.hedge_won();
        tracing::debug!(attempt = winner + 1, "hedge: a backup answered first");
    }
    this.first.set(None);
    // Drops the backups, and gives back the budget of one paid for and
    // not sent yet.
    this.hedging.0 = None;
    this.timer.set(None);
    *this.phase = Phase::Done;
}

/// An attempt was refused by a layer below and dropped: no more backups
/// (the layer would refuse them too); one paid for and not sent gives its
/// budget back.
#[cold]
fn refused<F, L: Launch>(this: &mut RaceProj<'_, F, L>) {
    tracing::debug!("hedge: an attempt was refused by a layer below; no more backups");
    this.timer.set(None);
    if let Some(h) = this.hedging.0.as_mut() {
        h.held = None;
    }
    *this.phase = Phase::Done;
}

/// Moves the backups along: arms the timer, pays for a backup when it
/// fires, launches it. Ready when a backup was launched.
fn schedule<F, L: Launch<Future = F>>(
    this: &mut RaceProj<'_, F, L>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    loop {
        let shared = this.launcher.shared();
        let attempt = *this.sent + 2;
        match *this.phase {
            Phase::Done => return Poll::Pending,
            Phase::Idle => {
                let start = Instant::now();
                *this.start = Some(start);
                if !this.launcher.can_hedge() {
                    shared.stats.not_cloneable();
                    tracing::debug!(attempt, "hedge: the request cannot be copied; no backup");
                    *this.phase = Phase::Done;
                    continue;
                }
                let at = saturating_add(start, shared.delay(start));
                arm(this, at);
            }
            Phase::Armed => {
                let Some(timer) = this.timer.as_mut().as_pin_mut() else {
                    *this.phase = Phase::Done;
                    continue;
                };
                ready!(timer.poll(cx));
                if let Some(withdrawal) = shared.budget.withdraw() {
                    this.hedging.0.get_or_insert_with(Box::default).held = Some(withdrawal);
                    *this.phase = Phase::Launching;
                } else {
                    shared.stats.budget_denied();
                    tracing::debug!(attempt, "hedge: budget spent; no backup");
                    *this.phase = Phase::Done;
                }
            }
            Phase::Launching => match ready!(this.launcher.poll_launch(cx)) {
                None => {
                    // Not sent: its budget goes back.
                    if let Some(h) = this.hedging.0.as_mut() {
                        h.held = None;
                    }
                    *this.phase = Phase::Done;
                }
                Some(future) => {
                    let h = this.hedging.0.get_or_insert_with(Box::default);
                    if let Some(withdrawal) = h.held.take() {
                        withdrawal.spend();
                    }
                    h.backups.push(Box::pin(future));
                    *this.sent += 1;
                    let shared = this.launcher.shared();
                    shared.stats.hedge_sent();
                    #[cfg(feature = "metrics")]
                    shared.export.hedge_sent();
                    tracing::debug!(attempt, "hedge: backup sent");
                    if *this.sent < shared.config.max_hedges && this.launcher.can_hedge() {
                        let now = Instant::now();
                        let at = saturating_add(now, shared.delay(now));
                        arm(this, at);
                    } else {
                        this.timer.set(None);
                        *this.phase = Phase::Done;
                    }
                    return Poll::Ready(());
                }
            },
        }
    }
}

/// Sets the timer for a backup due `at`, unless the deadline leaves it no
/// time.
fn arm<F, L: Launch>(this: &mut RaceProj<'_, F, L>, at: Instant) {
    let shared = this.launcher.shared();
    if !fits(*this.deadline, at, shared.config.min_attempt_time) {
        shared.stats.deadline_denied();
        tracing::debug!(
            attempt = *this.sent + 2,
            "hedge: the deadline leaves a backup no time; none sent"
        );
        this.timer.set(None);
        *this.phase = Phase::Done;
        return;
    }
    match this.timer.as_mut().as_pin_mut() {
        Some(timer) => timer.reset(at),
        None => this.timer.set(Some(tokio::time::sleep_until(at))),
    }
    *this.phase = Phase::Armed;
}

//! Holding a permit and waiting for one: [`Permit`] gives its permit back
//! on drop, [`Wait`] gives its queue slot back on drop (and any permit
//! handed to it in the same instant).

use crate::bulkhead::Shared;
use crate::core::{Admit, Ticket};
use ballast_core::{Reason, Rejected, saturating_add};
use ballast_deadline::Deadline;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::time::{Instant, Sleep};

/// Something that reaches the shared bulkhead: the `Arc<Shared>` that the
/// handle, the service and every clone of either hold.
pub(crate) trait Holder: Clone + Unpin {
    fn shared(&self) -> &Shared;
}

/// One permit, given back when dropped.
#[derive(Debug)]
pub(crate) struct Permit<H: Holder> {
    holder: H,
    /// Shadow mode: admitted over the limit, holding no permit.
    over: bool,
}

impl<H: Holder> Permit<H> {
    #[inline]
    fn held(holder: H) -> Self {
        #[cfg(feature = "metrics")]
        holder.shared().export.acquired();
        Self {
            holder,
            over: false,
        }
    }
}

impl<H: Holder> Drop for Permit<H> {
    #[inline]
    fn drop(&mut self) {
        let shared = self.holder.shared();
        #[cfg(feature = "metrics")]
        shared.export.released();
        if self.over {
            shared.release_over();
        } else {
            shared.core.release();
        }
    }
}

/// What a call that asks for a permit gets.
pub(crate) enum Admission<H: Holder> {
    /// A permit at once.
    Now(Permit<H>),
    /// A place in the queue.
    Wait(Wait<H>),
    /// A refusal (already counted and reported).
    Refused(Rejected),
}

/// Asks for a permit: the fast path is one CAS and a clone of `holder`.
#[inline]
pub(crate) fn admit<H: Holder>(holder: &H) -> Admission<H> {
    let shared = holder.shared();
    if shared.core.try_acquire() {
        return Admission::Now(Permit::held(holder.clone()));
    }
    admit_slow(holder)
}

#[cold]
fn admit_slow<H: Holder>(holder: &H) -> Admission<H> {
    let shared = holder.shared();
    if shared.config.shadow {
        // Never wait, never refuse: record and run over the limit.
        if shared.core.try_acquire() {
            return Admission::Now(Permit::held(holder.clone()));
        }
        shared.admit_over();
        #[cfg(feature = "metrics")]
        shared.export.acquired();
        return Admission::Now(Permit {
            holder: holder.clone(),
            over: true,
        });
    }
    if !shared.core.has_queue() {
        return Admission::Refused(shared.reject(Rejected::retry_later(Reason::BulkheadFull)));
    }
    // The wait ends at max_wait, or earlier at the call's deadline. A
    // max_wait of Duration::MAX ("only the deadline") lands far ahead.
    let now = Instant::now();
    let mut until = saturating_add(now, shared.config.max_wait);
    let mut by_deadline = false;
    if let Some(deadline) = Deadline::current() {
        if deadline.is_expired_at(now) {
            return Admission::Refused(
                shared.reject(Rejected::retry_later(Reason::DeadlineExceeded)),
            );
        }
        if deadline.instant() < until {
            until = deadline.instant();
            by_deadline = true;
        }
    }
    match shared.core.acquire_or_enqueue() {
        Admit::Acquired => Admission::Now(Permit::held(holder.clone())),
        Admit::QueueFull => {
            Admission::Refused(shared.reject(Rejected::retry_later(Reason::QueueFull)))
        }
        Admit::Queued(ticket) => Admission::Wait(Wait {
            holder: Some(holder.clone()),
            ticket,
            until,
            by_deadline,
            sleep: None,
        }),
    }
}

/// A place in the wait queue; a future of the permit.
///
/// Dropped before it resolves, it leaves the queue, and if a permit was
/// handed to it in the meantime it gives that permit back, which passes it
/// to the next waiter.
pub(crate) struct Wait<H: Holder> {
    /// `None` once resolved: the queue slot is no longer ours.
    holder: Option<H>,
    ticket: Ticket,
    until: Instant,
    /// Whether `until` is the call's deadline rather than `max_wait`.
    by_deadline: bool,
    /// Made on first poll (making one needs the runtime).
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<H: Holder> Wait<H> {
    fn granted(&mut self) -> Permit<H> {
        Permit::held(self.holder.take().expect("polled after completion"))
    }
}

impl<H: Holder> Future for Wait<H> {
    type Output = Result<Permit<H>, Rejected>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let holder = this.holder.as_ref().expect("polled after completion");
        if holder.shared().core.poll_waiter(this.ticket, cx.waker()) {
            return Poll::Ready(Ok(this.granted()));
        }
        let until = this.until;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if !holder.shared().core.cancel(this.ticket) {
            // A permit was handed to us as the wait ran out: keep it.
            return Poll::Ready(Ok(this.granted()));
        }
        let shared = this.holder.take().expect("still held");
        let reason = if this.by_deadline {
            Reason::DeadlineExceeded
        } else {
            Reason::QueueTimeout
        };
        Poll::Ready(Err(shared.shared().reject(Rejected::retry_later(reason))))
    }
}

impl<H: Holder> Drop for Wait<H> {
    fn drop(&mut self) {
        if let Some(holder) = self.holder.take() {
            let core = &holder.shared().core;
            if !core.cancel(self.ticket) {
                // Handed a permit in the same instant we were dropped:
                // pass it on.
                core.release();
            }
        }
    }
}

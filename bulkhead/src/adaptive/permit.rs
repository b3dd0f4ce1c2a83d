//! [`AdaptivePermit`]: one admitted call's slot, given back on drop; and
//! [`Held`], the same for the tower service's calls.

use super::handle::Shared;
use super::limiter::Timing;
use ballast_core::{Clock, Nanos};
use std::fmt;
use std::sync::Arc;

/// Something that reaches the shared limiter: the `Arc<Shared>` a call's
/// permit owns, or the `&Shared` a service's call borrows until the inner
/// call has returned.
pub(crate) trait Holder: Clone + Unpin {
    fn shared(&self) -> &Shared;
}

impl Holder for Arc<Shared> {
    #[inline]
    fn shared(&self) -> &Shared {
        self
    }
}

impl Holder for &Shared {
    #[inline]
    fn shared(&self) -> &Shared {
        self
    }
}

/// A held slot: when the call started, in which generation of the limit,
/// and how many were in flight. Gives the slot back when dropped.
pub(crate) struct Held<H: Holder> {
    holder: H,
    /// On the limiter's clock (a [`HotClock`](ballast_core::HotClock)).
    start: Nanos,
    generation: u64,
    in_flight: u32,
}

impl<H: Holder> Held<H> {
    /// Starts timing an admitted call: the first of its two clock reads.
    #[inline]
    pub(crate) fn new(holder: H, in_flight: u32) -> Self {
        let shared = holder.shared();
        let (generation, start) = (shared.limiter.generation(), shared.clock.now());
        Self {
            holder,
            start,
            generation,
            in_flight,
        }
    }

    /// Records the call (the second clock read, skipped if the limiter
    /// leaves the call out) and gives the slot back.
    #[inline]
    pub(crate) fn finish(self, dropped: bool) {
        let shared = self.holder.shared();
        let timing = Stopwatch {
            start: self.start,
            clock: &shared.clock,
        };
        // The slot is given back by `drop`, right after the sample is in.
        let change = shared
            .limiter
            .record(self.generation, self.in_flight, &timing, dropped);
        if change.is_some() {
            shared.changed(change);
        }
    }
}

/// A call's round trip on the limiter's clock.
struct Stopwatch<'a, C> {
    start: Nanos,
    clock: &'a C,
}

impl<C: Clock> Timing for Stopwatch<'_, C> {
    type End = Nanos;

    #[inline]
    fn end(&self) -> Nanos {
        self.clock.now()
    }

    #[inline]
    fn rtt(&self, end: &Nanos) -> Nanos {
        end.saturating_sub(self.start)
    }

    fn now(&self, end: &Nanos) -> Nanos {
        *end
    }
}

impl Held<&Shared> {
    /// The same slot, held through `holder` (a holder of the same
    /// limiter) from now on; nothing is released or recorded.
    #[inline]
    pub(crate) fn hand_to<H: Holder>(self, holder: H) -> Held<H> {
        let held = Held {
            holder,
            start: self.start,
            generation: self.generation,
            in_flight: self.in_flight,
        };
        // Nothing to release: the slot lives on in `held`.
        std::mem::forget(self);
        held
    }
}

impl<H: Holder> Drop for Held<H> {
    #[inline]
    fn drop(&mut self) {
        self.holder.shared().limiter.release();
        #[cfg(feature = "metrics")]
        self.holder.shared().export.released();
    }
}

/// One call's place under an [`AdaptiveLimiter`](super::AdaptiveLimiter)'s
/// limit, from [`acquire`](super::AdaptiveLimiter::acquire).
///
/// It remembers when the call started and how many were in flight. Finish
/// it with [`success`](Self::success) or [`dropped`](Self::dropped) to give
/// the slot back and feed the measurement; simply dropped (the call was
/// cancelled), it gives the slot back and records nothing, since a
/// cancelled call says nothing about the dependency.
#[must_use = "a permit holds a slot until it is finished or dropped"]
pub struct AdaptivePermit {
    held: Held<Arc<Shared>>,
}

impl AdaptivePermit {
    pub(crate) fn new(held: Held<Arc<Shared>>) -> Self {
        Self { held }
    }

    /// The call succeeded: its round trip counts as a measurement.
    pub fn success(self) {
        self.held.finish(false);
    }

    /// The call was dropped by the dependency (failed, timed out, refused):
    /// a loss signal.
    pub fn dropped(self) {
        self.held.finish(true);
    }

    /// Calls in flight when this one started, counting it.
    pub fn in_flight_at_start(&self) -> u32 {
        self.held.in_flight
    }
}

impl fmt::Debug for AdaptivePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("start", &self.held.start)
            .field("generation", &self.held.generation)
            .field("in_flight", &self.held.in_flight)
            .finish()
    }
}

//! [`AdaptivePermit`]: one admitted call's slot, given back on drop.

use super::handle::Shared;
use ballast_core::{Clock, Nanos};
use std::fmt;
use std::sync::Arc;

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
    shared: Arc<Shared>,
    start: Nanos,
    in_flight: u32,
}

impl AdaptivePermit {
    pub(crate) fn new(shared: Arc<Shared>, in_flight: u32) -> Self {
        let start = shared.clock.now();
        Self {
            shared,
            start,
            in_flight,
        }
    }

    /// The call succeeded: its round trip counts as a measurement.
    pub fn success(self) {
        self.finish(false);
    }

    /// The call was dropped by the dependency (failed, timed out, refused):
    /// a loss signal.
    pub fn dropped(self) {
        self.finish(true);
    }

    /// Calls in flight when this one started, counting it.
    pub fn in_flight_at_start(&self) -> u32 {
        self.in_flight
    }

    fn finish(self, dropped: bool) {
        let now = self.shared.clock.now();
        // The slot is given back by `drop`, right after the sample is in.
        let change = self
            .shared
            .limiter
            .record(self.start, self.in_flight, now, dropped);
        self.shared.changed(change);
    }
}

impl Drop for AdaptivePermit {
    #[inline]
    fn drop(&mut self) {
        self.shared.limiter.release();
    }
}

impl fmt::Debug for AdaptivePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("start", &self.start)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

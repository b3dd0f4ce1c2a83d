//! The clock seam: policy cores take time as an argument through [`Clock`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Nanoseconds since a policy's origin (the instant it was built).
///
/// Policy cores store times as `Nanos` in atomics; a `u64` of nanoseconds
/// lasts 584 years.
pub type Nanos = u64;

/// Converts a duration to [`Nanos`], saturating at `u64::MAX`.
pub fn nanos(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// How far ahead [`saturating_add`] lands when `at + by` would overflow
/// the clock: about 30 years, as tokio's own "far future" (in effect,
/// never). A setting of `Duration::MAX` ("wait forever") means this.
pub const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The instant `by` after `at`, or [`FAR_FUTURE`] after `at` when that
/// would overflow the clock.
///
/// `Instant + Duration` panics on overflow, and every ballast setting that
/// is a duration accepts `Duration::MAX` as "forever": each place that
/// turns a configured duration into an instant goes through here, so no
/// value a builder accepts can panic a call.
///
/// ```
/// use ballast_core::saturating_add;
/// use std::time::Duration;
/// use tokio::time::Instant;
///
/// let now = Instant::now();
/// assert_eq!(saturating_add(now, Duration::from_secs(1)), now + Duration::from_secs(1));
/// assert!(saturating_add(now, Duration::MAX) > now + Duration::from_secs(86_400 * 365));
/// ```
#[inline]
pub fn saturating_add(at: tokio::time::Instant, by: Duration) -> tokio::time::Instant {
    match at.checked_add(by) {
        Some(later) => later,
        None => far_future(at, by),
    }
}

#[cold]
fn far_future(at: tokio::time::Instant, by: Duration) -> tokio::time::Instant {
    at.checked_add(by.min(FAR_FUTURE)).unwrap_or(at)
}

/// Where a policy core gets the current time when a decision needs it.
///
/// A core never reads a wall clock by itself: it asks the clock it is
/// handed, and only on the paths that need time (the common path of most
/// policies needs none). Layers pass a [`TokioClock`]; tests pass a
/// [`ManualClock`] or a plain `Nanos` value.
pub trait Clock {
    /// The current time in nanoseconds since the policy's origin.
    fn now(&self) -> Nanos;
}

/// A fixed instant: handy in tests of a policy core.
impl Clock for Nanos {
    fn now(&self) -> Nanos {
        *self
    }
}

/// Tokio's clock, measured from an origin instant.
///
/// Reads `tokio::time::Instant::now()`, so tests that pause tokio's clock
/// (`tokio::time::pause`) control every ballast policy.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }

    /// The instant this clock counts from.
    pub fn origin(&self) -> tokio::time::Instant {
        self.origin
    }

    /// The tokio instant for a time read from this clock.
    pub fn instant(&self, at: Nanos) -> tokio::time::Instant {
        saturating_add(self.origin, Duration::from_nanos(at))
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Nanos {
        nanos(self.origin.elapsed())
    }
}

/// A clock that moves only when told to: for deterministic tests.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        // Relaxed: the clock value is a standalone number; tests that share
        // it across threads synchronise through their own joins.
        self.now.fetch_add(nanos(by), Ordering::Relaxed);
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: Nanos) {
        // Relaxed: see `advance`.
        self.now.store(at, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Nanos {
        // Relaxed: see `advance`.
        self.now.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let clock = TokioClock::new();
        assert_eq!(clock.now(), 0);
        tokio::time::advance(Duration::from_millis(5)).await;
        assert_eq!(clock.now(), 5_000_000);
    }

    #[test]
    fn saturating_add_never_panics_and_keeps_order() {
        let now = tokio::time::Instant::now();
        let one = saturating_add(now, Duration::from_nanos(1));
        assert_eq!(one, now + Duration::from_nanos(1));
        let forever = saturating_add(now, Duration::MAX);
        assert!(forever > now + Duration::from_secs(86_400 * 365 * 29));
        assert!(saturating_add(forever, Duration::MAX) >= forever);
        assert!(
            TokioClock::new().instant(u64::MAX) > now,
            "the largest Nanos maps to an instant"
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new();
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now(), 1_000_000_000);
        clock.set(7);
        assert_eq!(clock.now(), 7);
    }
}

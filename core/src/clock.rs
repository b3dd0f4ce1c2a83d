//! [`HotClock`]: the clock policies read on their hot paths.

use crate::time::{Clock, Nanos, nanos, saturating_add};
use std::sync::OnceLock;
use std::time::Duration;

/// The clock a policy reads on every call that needs the time (the rate
/// limiter's time base, call durations, windows, the adaptive limiter's
/// round trips): the CPU's time-stamp counter through
/// [`quanta`](https://docs.rs/quanta), or tokio's clock while tokio's
/// clock is paused.
///
/// # Which source, and when it is chosen
///
/// A clock made with [`new`](Self::new) inside a tokio runtime whose clock
/// is paused (`#[tokio::test(start_paused = true)]`,
/// `tokio::time::pause()`) reads tokio's clock, exactly as
/// [`TokioClock`](crate::TokioClock) does, so tests that pause and advance
/// tokio's clock drive every policy built in them. Any other clock reads
/// the time-stamp counter. The choice is made once, when the clock is
/// made (a policy makes its clock when it is built): it looks whether
/// tokio's clock moves across a microsecond of spinning (about 1 µs, once
/// per policy). A policy built before the test pauses tokio's clock keeps
/// the counter; build it after, or pass [`HotClock::tokio`].
///
/// # Precision, drift and an unreliable counter
///
/// - **Cost**: a read is an `rdtsc` (x86-64) or `cntvct` (aarch64) and a
///   multiply-shift, about a third of a `clock_gettime` (the source of
///   `std` and tokio's `Instant::now()` outside tests).
/// - **Precision**: nanoseconds; quanta calibrates the counter against
///   the OS monotonic clock once per process (up to 200 ms, on the first
///   policy built, aiming at 10 ns of error per measurement).
/// - **Drift**: the counter's rate is taken from that calibration and
///   never corrected, so over a long interval it drifts from the OS
///   monotonic clock by the calibration's error (parts per million: some
///   milliseconds a day). Ballast reads it only for intervals (a rate's
///   spacing, a call's duration, a window's buckets), where that error is
///   far below the settings' own resolution; instants handed to tokio's
///   timers ([`instant`](Self::instant)) are this clock's origin on
///   tokio's clock plus the interval, so a timer set hours after the
///   policy was built can fire that many milliseconds early or late.
/// - **An unreliable counter**: quanta uses the counter only when the CPU
///   reports an invariant TSC and `rdtscp` (x86-64) or on aarch64; on
///   other CPUs, on other architectures and in virtual machines that hide
///   those flags it reads the OS monotonic clock instead: correct, as fast
///   as tokio's clock. A counter that the CPU claims invariant but that
///   differs between cores (rare, old multi-socket hardware) can read
///   slightly behind after a thread moves: a read never goes below the
///   clock's origin, and every ballast policy treats a time earlier than
///   one it has seen as that time.
#[derive(Debug, Clone, Copy)]
pub struct HotClock {
    /// The instant this clock counts from, on tokio's clock.
    origin: tokio::time::Instant,
    /// The counter and its reading at `origin`; `None` reads tokio's clock.
    counter: Option<(&'static quanta::Clock, u64)>,
}

/// The process's counter, calibrated once.
fn counter() -> &'static quanta::Clock {
    static COUNTER: OnceLock<quanta::Clock> = OnceLock::new();
    COUNTER.get_or_init(quanta::Clock::new)
}

/// Whether tokio's clock stands still in this thread's runtime: it does
/// only when paused (a paused clock moves only when told to, or when the
/// runtime has nothing to do, which it cannot while we spin).
fn tokio_clock_is_paused() -> bool {
    if tokio::runtime::Handle::try_current().is_err() {
        return false;
    }
    let before = tokio::time::Instant::now();
    let spin = std::time::Instant::now();
    while spin.elapsed() < Duration::from_micros(1) {
        std::hint::spin_loop();
    }
    tokio::time::Instant::now() == before
}

impl HotClock {
    /// A clock whose zero is now: the time-stamp counter, or tokio's clock
    /// when made in a runtime whose clock is paused (see the type's notes).
    pub fn new() -> Self {
        if tokio_clock_is_paused() {
            Self::tokio()
        } else {
            Self::counter()
        }
    }

    /// A clock whose zero is now, reading the time-stamp counter whatever
    /// tokio's clock does.
    pub fn counter() -> Self {
        let counter = counter();
        // Read the counter first: `now` never goes below it.
        let raw = counter.raw();
        Self {
            origin: tokio::time::Instant::now(),
            counter: Some((counter, raw)),
        }
    }

    /// A clock whose zero is now, reading tokio's clock (a paused clock
    /// controls it), as [`TokioClock`](crate::TokioClock).
    pub fn tokio() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
            counter: None,
        }
    }

    /// True when this clock reads the time-stamp counter (or the OS
    /// clock quanta falls back to), false when it reads tokio's clock.
    pub fn reads_counter(&self) -> bool {
        self.counter.is_some()
    }

    /// The instant this clock counts from, on tokio's clock.
    pub fn origin(&self) -> tokio::time::Instant {
        self.origin
    }

    /// The tokio instant for a time read from this clock (for tokio's
    /// timers; see the type's notes on drift).
    pub fn instant(&self, at: Nanos) -> tokio::time::Instant {
        saturating_add(self.origin, Duration::from_nanos(at))
    }
}

impl Default for HotClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for HotClock {
    #[inline]
    fn now(&self) -> Nanos {
        match self.counter {
            // `delta_as_nanos` is 0 for a reading below the origin.
            Some((counter, origin)) => counter.delta_as_nanos(origin, counter.raw()),
            None => self.tokio_now(),
        }
    }
}

impl HotClock {
    /// [`now`](Clock::now) on tokio's clock: out of line, so the counter's
    /// read is all a hot path inlines.
    #[inline(never)]
    fn tokio_now(&self) -> Nanos {
        nanos(self.origin.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_clock_made_while_tokio_is_paused_follows_tokio() {
        let clock = HotClock::new();
        assert!(!clock.reads_counter());
        assert_eq!(clock.now(), 0);
        tokio::time::advance(Duration::from_millis(5)).await;
        assert_eq!(clock.now(), 5_000_000);
    }

    #[tokio::test]
    async fn a_clock_made_on_a_running_tokio_clock_reads_the_counter() {
        let clock = HotClock::new();
        assert!(clock.reads_counter());
    }

    #[test]
    fn the_counter_keeps_pace_with_the_system_clock() {
        let clock = HotClock::counter();
        let start = std::time::Instant::now();
        let first = clock.now();
        std::thread::sleep(Duration::from_millis(20));
        let (elapsed, read) = (start.elapsed(), clock.now() - first);
        let elapsed = nanos(elapsed);
        // Within 2 ms of 20+ ms: the calibration is far better, but the
        // two reads are not taken at one instant on a busy machine.
        assert!(
            read.abs_diff(elapsed) < 2_000_000,
            "counter {read} ns, system {elapsed} ns"
        );
        assert!(clock.now() >= read, "the counter never goes back");
    }

    #[test]
    fn outside_a_runtime_the_counter_is_read() {
        assert!(HotClock::new().reads_counter());
        assert!(!HotClock::tokio().reads_counter());
        let clock = HotClock::counter();
        assert_eq!(clock.instant(7), clock.origin() + Duration::from_nanos(7));
    }
}

//! [`WallClock`]: where the HTTP classifier reads the date that an
//! HTTP-date `Retry-After` is counted from.

use std::time::SystemTime;

/// The wall clock an HTTP-date `Retry-After` is measured against. The
/// classifier reads it only for a retryable response that carries a date,
/// so a test can fix it and get exact delays.
///
/// Implemented for any `Fn() -> SystemTime`.
pub trait WallClock {
    /// The current date and time.
    fn now(&self) -> SystemTime;
}

/// The system's clock, [`SystemTime::now`]; the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl WallClock for SystemClock {
    #[inline]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<F: Fn() -> SystemTime> WallClock for F {
    #[inline]
    fn now(&self) -> SystemTime {
        self()
    }
}

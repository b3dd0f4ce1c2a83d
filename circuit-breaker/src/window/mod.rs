//! Sliding windows: what the failure and slow-call rates are computed over.
//!
//! Both kinds record without locks. The count window is exact about which
//! calls it holds and keeps failures and slow calls as bitsets, so the
//! counts it reports are derived from the bits and can never drift; the
//! time window keeps per-bucket counters and takes a lock only to recycle
//! a bucket, once per bucket period.

mod count;
mod time;

pub(crate) use count::{CountWindow, Recorded};
pub(crate) use time::TimeWindow;

use crate::config::SlidingWindow;
use ballast_core::Nanos;

/// What a window holds at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

impl Counts {
    pub(crate) fn failure_rate(&self) -> f64 {
        percent(self.failures, self.calls)
    }

    pub(crate) fn slow_rate(&self) -> f64 {
        percent(self.slow, self.calls)
    }
}

pub(crate) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// One recorded call's outcome as the window sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) failure: bool,
    pub(crate) slow: bool,
}

/// The samples tests and loom models record, named once.
#[cfg(any(test, ballast_loom))]
pub(crate) mod samples {
    // The loom models use only some of them.
    #![cfg_attr(ballast_loom, allow(dead_code))]
    use super::Sample;

    pub(crate) const OK: Sample = Sample {
        failure: false,
        slow: false,
    };
    pub(crate) const FAIL: Sample = Sample {
        failure: true,
        slow: false,
    };
    pub(crate) const SLOW: Sample = Sample {
        failure: false,
        slow: true,
    };
    pub(crate) const SLOW_FAIL: Sample = Sample {
        failure: true,
        slow: true,
    };
}

#[derive(Debug)]
// One window per breaker, built once and never moved: size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn new(kind: SlidingWindow, track_slow: bool) -> Self {
        match kind {
            SlidingWindow::Count { size } => Window::Count(CountWindow::new(size, track_slow)),
            SlidingWindow::Time { duration, buckets } => {
                Window::Time(TimeWindow::new(duration, buckets))
            }
        }
    }

    /// True when recording needs the current time.
    #[inline]
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self, Window::Time(_))
    }

    /// Records one call. Returns true when the rates may have reached a
    /// threshold and must be evaluated: only a failure or slow call can
    /// raise a rate, except when the window reaches `minimum_calls` or
    /// (time window) when old calls age out, which happens only as a new
    /// bucket period opens, on that period's first record. So a success in
    /// a steady window reads no counts.
    #[inline]
    pub(crate) fn record(&self, sample: Sample, now: Nanos, minimum_calls: u64) -> bool {
        match self {
            Window::Count(w) => {
                let recorded = w.record(sample);
                sample.failure || sample.slow || recorded == Recorded::Seq(minimum_calls - 1)
            }
            Window::Time(w) => {
                let (rolled, calls) = w.record(sample, now);
                sample.failure || sample.slow || rolled || calls == minimum_calls
            }
        }
    }

    pub(crate) fn counts(&self, now: Nanos) -> Counts {
        match self {
            Window::Count(w) => w.counts(),
            Window::Time(w) => w.counts(now),
        }
    }

    /// Empties the window. Called under the transition lock.
    pub(crate) fn reset(&self) {
        match self {
            Window::Count(w) => w.reset(),
            Window::Time(w) => w.reset(),
        }
    }
}

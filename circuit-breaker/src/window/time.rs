//! The time window: the calls of the last `duration`, in buckets.
//!
//! # Implementation notes
//!
//! Bucket `i` holds the calls of period `p` where `p % buckets == i`; its
//! `period` field stores `p + 1` (0 means never used). A record finds the
//! bucket for `now`; if the bucket still holds an older period, the
//! recorder takes the roll lock, and if the bucket is still stale, zeroes
//! its counters and then publishes the new period (Release). Recording
//! into a current bucket is a `fetch_add` or two, no lock.
//!
//! A record that loaded the period just before another thread recycled the
//! bucket may add its call to the new period: one call moved by one bucket
//! period, which the window's resolution already allows.

use crate::sync::{AtomicU64, Mutex, Ordering};
use crate::window::{Counts, Sample};
use ballast_core::Nanos;
use std::time::Duration;

#[derive(Debug, Default)]
struct Bucket {
    /// The period this bucket holds, plus one; 0 when unused.
    period: AtomicU64,
    calls: AtomicU64,
    /// Failures in the high 32 bits, slow calls in the low 32 bits.
    bad: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct TimeWindow {
    bucket_nanos: u64,
    buckets: Box<[Bucket]>,
    roll: Mutex<()>,
}

const FAILURE: u64 = 1 << 32;
const SLOW: u64 = 1;

impl TimeWindow {
    pub(crate) fn new(duration: Duration, buckets: u32) -> Self {
        let bucket_nanos = (ballast_core::nanos(duration) / u64::from(buckets)).max(1);
        Self {
            bucket_nanos,
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
            roll: Mutex::new(()),
        }
    }

    fn len(&self) -> u64 {
        self.buckets.len() as u64
    }

    pub(crate) fn record(&self, sample: Sample, now: Nanos) {
        let period = now / self.bucket_nanos;
        let bucket = &self.buckets[(period % self.len()) as usize];
        // Acquire: pairs with the Release publish in `recycle`, so the zeroed
        // counters are visible before we add to them.
        if bucket.period.load(Ordering::Acquire) != period + 1 {
            self.recycle(bucket, period);
        }
        // Relaxed: counters are statistics; see module notes.
        bucket.calls.fetch_add(1, Ordering::Relaxed);
        let bad = if sample.failure { FAILURE } else { 0 } + if sample.slow { SLOW } else { 0 };
        if bad != 0 {
            bucket.bad.fetch_add(bad, Ordering::Relaxed);
        }
    }

    fn recycle(&self, bucket: &Bucket, period: u64) {
        let _roll = self.roll.lock();
        // Relaxed: under the roll lock, which orders recyclers.
        let held = bucket.period.load(Ordering::Relaxed);
        if held < period + 1 {
            bucket.calls.store(0, Ordering::Relaxed);
            bucket.bad.store(0, Ordering::Relaxed);
            // Release: publishes the zeroed counters with the new period.
            bucket.period.store(period + 1, Ordering::Release);
        }
    }

    pub(crate) fn counts(&self, now: Nanos) -> Counts {
        let current = now / self.bucket_nanos;
        let oldest = (current + 1).saturating_sub(self.len());
        let mut c = Counts::default();
        for b in self.buckets.iter() {
            // Acquire: see `record`.
            let held = b.period.load(Ordering::Acquire);
            if held == 0 || held - 1 < oldest || held - 1 > current {
                continue;
            }
            // Relaxed: statistics.
            c.calls += b.calls.load(Ordering::Relaxed);
            let bad = b.bad.load(Ordering::Relaxed);
            c.failures += bad >> 32;
            c.slow += bad & 0xFFFF_FFFF;
        }
        c
    }

    pub(crate) fn reset(&self) {
        let _roll = self.roll.lock();
        for b in self.buckets.iter() {
            // Relaxed: under the roll lock and the transition lock, whose
            // Release store of the state word publishes the reset.
            b.period.store(0, Ordering::Relaxed);
            b.calls.store(0, Ordering::Relaxed);
            b.bad.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    const OK: Sample = Sample {
        failure: false,
        slow: false,
    };
    const FAIL: Sample = Sample {
        failure: true,
        slow: false,
    };
    const SLOW_FAIL: Sample = Sample {
        failure: true,
        slow: true,
    };
    const SEC: u64 = 1_000_000_000;

    #[test]
    fn holds_calls_of_the_last_duration() {
        let w = TimeWindow::new(Duration::from_secs(10), 10);
        w.record(FAIL, 0);
        w.record(OK, SEC / 2);
        w.record(SLOW_FAIL, 5 * SEC);
        assert_eq!(
            w.counts(5 * SEC),
            Counts {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        // At 10s the first bucket (0..1s) has aged out.
        assert_eq!(
            w.counts(10 * SEC),
            Counts {
                calls: 1,
                failures: 1,
                slow: 1
            }
        );
        assert_eq!(w.counts(15 * SEC), Counts::default());
    }

    #[test]
    fn recycles_a_bucket_for_a_new_period() {
        let w = TimeWindow::new(Duration::from_secs(2), 2);
        w.record(FAIL, 0);
        w.record(OK, 2 * SEC); // same bucket index, new period
        assert_eq!(
            w.counts(2 * SEC),
            Counts {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn reset_empties_every_bucket() {
        let w = TimeWindow::new(Duration::from_secs(2), 2);
        w.record(FAIL, 0);
        w.reset();
        assert_eq!(w.counts(0), Counts::default());
    }
}

//! The time window: the calls of the last `duration`, in buckets, with
//! running totals so a record and a read of the rates cost the same
//! whatever the bucket count.
//!
//! # Implementation notes
//!
//! - Bucket `i` holds the calls of period `p` where `p % buckets == i`;
//!   its `period` field stores `p + 1` (0 means never used). A record
//!   finds the bucket for `now`; if the bucket still holds an older
//!   period, the recorder takes the roll lock and, if the bucket is still
//!   stale, recycles it: empties it and publishes the new period
//!   (Release). Recording into a current bucket is lock-free.
//! - `totals` is the sum of every bucket's counters plus the records in
//!   flight. A record adds to `totals` first, then to its bucket
//!   (Release); whoever empties a bucket swaps its counters to zero
//!   (Acquire) and subtracts what it took from `totals`. So every call
//!   added is subtracted exactly once, by whoever takes it out of its
//!   bucket, and never before it was added: `totals` never underflows and
//!   never drifts.
//! - Periods below `expired_below` have aged out of the window. When a
//!   record or a read finds the window's oldest period above it (once per
//!   bucket period), it takes the roll lock and empties the buckets of the
//!   periods that aged out: one bucket per period that passed, and at
//!   most every bucket once however far time jumped (the first call after
//!   a quiet spell as long as the window). Every other record or read is
//!   O(1) whatever the bucket count.
//! - A read takes `totals` under a sequence number (`epoch`) that the
//!   roll lock holder makes odd while it subtracts, so a read never sees a
//!   bucket's calls taken out without its failures (a rate above the
//!   truth); a read that finds it odd twice waits for the roll lock
//!   rather than spin. Against concurrent records, a read loads failures
//!   and slow calls (Acquire) before calls, which a record adds to the
//!   totals first: it sees no failure without its call.
//! - A record adds to its bucket in the other order, flags then call, and
//!   emptying a bucket swaps the call count first: a record split by a
//!   concurrent empty can only have its call kept and its failure (or
//!   slowness) taken out, a rate below the truth, never a failure kept
//!   without its call.
//! - A record that read `now` before another thread expired its period
//!   lands in a bucket already emptied: it stays counted until that bucket
//!   is emptied again (within one window), one call kept a little longer,
//!   which the window's resolution already allows. Likewise a record that
//!   loaded the period just before another thread recycled the bucket adds
//!   its call to the new period, or (split, see above) its call to the new
//!   period and its failure to the old.

use crate::sync::{AtomicU64, CachePadded, Mutex, Ordering, fence};
use crate::window::{Counts, Sample};
use ballast_core::Nanos;
use std::time::Duration;

/// Calls, failures and slow calls, each its own counter: a window may
/// hold more than 2^32 of any of them.
#[derive(Debug, Default)]
struct Tally {
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl Tally {
    /// Adds one call to the totals: the call first, then its failure and
    /// slow flags (Release), so a reader that sees a flag (Acquire in
    /// `load`) sees its call.
    /// Returns the calls counted before this one.
    #[inline]
    fn add_call_first(&self, s: Sample) -> u64 {
        // Relaxed: published by the Release adds below, or by the bucket's
        // (see `add_call_last`).
        let before = self.calls.fetch_add(1, Ordering::Relaxed);
        if s.failure {
            // Release: a reader that sees the failure sees its call.
            self.failures.fetch_add(1, Ordering::Release);
        }
        if s.slow {
            // Release: as for failures.
            self.slow.fetch_add(1, Ordering::Release);
        }
        before
    }

    /// Adds one call to a bucket: the flags first, then the call. With
    /// `take` swapping the call first, a record split by a recycle can
    /// only leave its call without its flags (a rate below the truth),
    /// never a flag without its call.
    #[inline]
    fn add_call_last(&self, s: Sample) {
        // Release on every add: the adds to `totals` sequenced before it
        // happen before whoever takes this bucket subtracts them (Acquire
        // in `take`), so `totals` never dips below zero.
        if s.failure {
            self.failures.fetch_add(1, Ordering::Release);
        }
        if s.slow {
            // Release: as above.
            self.slow.fetch_add(1, Ordering::Release);
        }
        // Release: as above.
        self.calls.fetch_add(1, Ordering::Release);
    }

    /// Empties the counters, the call count first, and returns what they
    /// held.
    fn take(&self) -> Counts {
        // Acquire: pairs with the Release adds, so the matching adds to
        // `totals` happen before our subtraction of them.
        let calls = self.calls.swap(0, Ordering::Acquire);
        Counts {
            calls,
            failures: self.failures.swap(0, Ordering::Acquire),
            slow: self.slow.swap(0, Ordering::Acquire),
        }
    }

    /// Subtracts what `take` returned from a bucket.
    fn sub(&self, c: Counts) {
        // Relaxed: ordered after the adds by `take`'s Acquire, and for
        // readers by the epoch (see `TimeWindow::expire_bucket`).
        if c.calls != 0 {
            self.calls.fetch_sub(c.calls, Ordering::Relaxed);
        }
        if c.failures != 0 {
            self.failures.fetch_sub(c.failures, Ordering::Relaxed);
        }
        if c.slow != 0 {
            self.slow.fetch_sub(c.slow, Ordering::Relaxed);
        }
    }

    fn load(&self) -> Counts {
        // Acquire: failures and slow first, pairing with their Release adds,
        // so the calls loaded after include every call they count.
        let failures = self.failures.load(Ordering::Acquire);
        let slow = self.slow.load(Ordering::Acquire);
        // Relaxed: ordered after the loads above by their Acquire.
        let calls = self.calls.load(Ordering::Relaxed);
        Counts {
            calls,
            failures,
            slow,
        }
    }
}

#[derive(Debug, Default)]
struct Bucket {
    /// The period this bucket holds, plus one; 0 when unused.
    period: AtomicU64,
    tally: Tally,
}

#[derive(Debug)]
pub(crate) struct TimeWindow {
    bucket_nanos: u64,
    buckets: Box<[Bucket]>,
    /// Every bucket's counters summed, plus records in flight: the rates
    /// are read from here, never from the buckets.
    totals: CachePadded<Tally>,
    /// Odd while the roll lock holder subtracts from `totals`.
    epoch: AtomicU64,
    /// The periods below this have aged out and their buckets were
    /// emptied. Written under the roll lock.
    expired_below: AtomicU64,
    roll: Mutex<()>,
    /// Buckets whose counters were read or changed, for the tests that
    /// bound the work per record.
    #[cfg(test)]
    visits: crate::sync::TestCounter,
}

impl TimeWindow {
    pub(crate) fn new(duration: Duration, buckets: u32) -> Self {
        let bucket_nanos = (ballast_core::nanos(duration) / u64::from(buckets)).max(1);
        Self {
            bucket_nanos,
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
            totals: CachePadded(Tally::default()),
            epoch: AtomicU64::new(0),
            expired_below: AtomicU64::new(0),
            roll: Mutex::new(()),
            #[cfg(test)]
            visits: Default::default(),
        }
    }

    fn len(&self) -> u64 {
        self.buckets.len() as u64
    }

    #[cfg(test)]
    fn visit(&self, n: u64) {
        // Relaxed: a test-only tally.
        self.visits
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records one call. Returns whether this record opened a new bucket
    /// period (the only moment old calls age out, so the rates may have
    /// risen without a failure) and how many calls the window holds now.
    #[inline]
    pub(crate) fn record(&self, sample: Sample, now: Nanos) -> (bool, u64) {
        let period = now / self.bucket_nanos;
        self.expire(period);
        let bucket = &self.buckets[(period % self.len()) as usize];
        // Acquire: pairs with the Release publish in `recycle`, so the
        // emptied counters are visible before we add to them.
        let rolled =
            bucket.period.load(Ordering::Acquire) != period + 1 && self.recycle(bucket, period);
        #[cfg(test)]
        self.visit(1);
        // Totals first: see the module notes.
        let before = self.totals.add_call_first(sample);
        bucket.tally.add_call_last(sample);
        (rolled, before + 1)
    }

    /// Empties the buckets of the periods that aged out by period `current`.
    #[inline]
    fn expire(&self, current: u64) {
        let oldest = (current + 1).saturating_sub(self.len());
        // Acquire: pairs with the Release store below; the common case.
        if self.expired_below.load(Ordering::Acquire) >= oldest {
            return;
        }
        self.expire_slow(oldest);
    }

    #[cold]
    fn expire_slow(&self, oldest: u64) {
        let _roll = self.roll.lock();
        // Relaxed: under the roll lock, which orders its writers.
        let from = self.expired_below.load(Ordering::Relaxed);
        if from >= oldest {
            return;
        }
        // However far time jumped, each bucket is looked at once.
        for p in from.max(oldest.saturating_sub(self.len()))..oldest {
            let bucket = &self.buckets[(p % self.len()) as usize];
            // Relaxed: under the roll lock, which orders recyclers.
            let held = bucket.period.load(Ordering::Relaxed);
            // A bucket already recycled for a period still in the window
            // keeps its calls.
            if held != 0 && held - 1 < oldest {
                self.empty(bucket);
            }
        }
        // Release: pairs with the Acquire in `expire`; a reader that skips
        // the walk sees its subtractions.
        self.expired_below.store(oldest, Ordering::Release);
    }

    /// Takes a bucket's counters out of it and out of the totals. Called
    /// under the roll lock.
    fn empty(&self, bucket: &Bucket) {
        #[cfg(test)]
        self.visit(1);
        let taken = bucket.tally.take();
        if taken == Counts::default() {
            return;
        }
        // Relaxed, then a Release fence: readers that see the subtraction
        // below see the odd epoch (see `counts`).
        self.epoch.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.totals.sub(taken);
        // Release: a reader that sees the even epoch sees the subtraction.
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// Opens `bucket` for `period`; false if another record did already
    /// (or the bucket holds a later period).
    #[cold]
    fn recycle(&self, bucket: &Bucket, period: u64) -> bool {
        let _roll = self.roll.lock();
        // Relaxed: under the roll lock, which orders recyclers.
        let held = bucket.period.load(Ordering::Relaxed);
        if held > period {
            return false;
        }
        self.empty(bucket);
        // Release: publishes the emptied counters with the new period.
        bucket.period.store(period + 1, Ordering::Release);
        true
    }

    pub(crate) fn counts(&self, now: Nanos) -> Counts {
        self.expire(now / self.bucket_nanos);
        for _ in 0..2 {
            // Acquire: pairs with the Release of the even epoch.
            let before = self.epoch.load(Ordering::Acquire);
            let c = self.totals.load();
            // Acquire fence: the loads above happen before the re-check.
            fence(Ordering::Acquire);
            // Relaxed: ordered by the fence.
            if before % 2 == 0 && self.epoch.load(Ordering::Relaxed) == before {
                return c;
            }
        }
        // A subtraction is under way: wait for it rather than spin.
        let _roll = self.roll.lock();
        self.totals.load()
    }

    /// The running totals and the sum of every bucket's counters: equal
    /// whenever no record is in flight.
    #[cfg(any(test, ballast_loom))]
    pub(crate) fn totals_and_bucket_sum(&self) -> (Counts, Counts) {
        let mut sum = Counts::default();
        for b in self.buckets.iter() {
            let c = b.tally.load();
            sum.calls += c.calls;
            sum.failures += c.failures;
            sum.slow += c.slow;
        }
        (self.totals.load(), sum)
    }

    /// Empties the window. Called under the transition lock.
    pub(crate) fn reset(&self) {
        let _roll = self.roll.lock();
        for b in self.buckets.iter() {
            self.empty(b);
            // Relaxed: under the roll lock and the transition lock, whose
            // Release store of the state word publishes the reset.
            b.period.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;
    use crate::window::samples::{FAIL, OK, SLOW_FAIL};
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

    /// What the window should hold at `now`: the records of the periods
    /// `now`'s period and the `buckets - 1` before it, counted from a plain
    /// list of every record.
    fn expected(log: &[(Nanos, Sample)], w: &TimeWindow, now: Nanos) -> Counts {
        let current = now / w.bucket_nanos;
        let oldest = (current + 1).saturating_sub(w.len());
        let mut c = Counts::default();
        for &(at, s) in log {
            let p = at / w.bucket_nanos;
            if p >= oldest && p <= current {
                c.calls += 1;
                c.failures += u64::from(s.failure);
                c.slow += u64::from(s.slow);
            }
        }
        c
    }

    #[test]
    fn running_totals_equal_the_records_of_the_window_under_random_records_and_time_jumps() {
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        for seed in 0..20 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let buckets = rng.random_range(1..=12);
            let w = TimeWindow::new(Duration::from_secs(buckets.into()), buckets);
            let mut log = Vec::new();
            let mut now = 0;
            for _ in 0..2_000 {
                now += match rng.random_range(0..100) {
                    // Mostly small steps within a bucket or to the next...
                    0..70 => rng.random_range(0..SEC / 3),
                    // ...sometimes several buckets at once...
                    70..95 => rng.random_range(SEC..4 * SEC),
                    // ...and now and then past the whole window.
                    _ => rng.random_range(u64::from(buckets) * SEC..3 * u64::from(buckets) * SEC),
                };
                let s = Sample {
                    failure: rng.random_bool(0.3),
                    slow: rng.random_bool(0.2),
                };
                if rng.random_bool(0.02) {
                    w.reset();
                    log.clear();
                }
                w.record(s, now);
                log.push((now, s));
                assert_eq!(w.counts(now), expected(&log, &w, now), "seed {seed}");
                let (totals, sum) = w.totals_and_bucket_sum();
                assert_eq!(totals, sum, "seed {seed}: the totals drifted");
                // Sometimes read later without a record (the clock moves
                // on, as a metrics snapshot sees it): old buckets age out.
                if rng.random_bool(0.3) {
                    now += rng.random_range(0..2 * u64::from(buckets) * SEC);
                    assert_eq!(w.counts(now), expected(&log, &w, now), "seed {seed}");
                }
            }
        }
    }

    /// The most buckets one record and the read of the rates after it
    /// (what the breaker does per call) touch, over a steady stream of
    /// calls 100ms apart through an hour-long window of `buckets` buckets.
    fn most_buckets_touched_per_record(buckets: u32) -> u64 {
        let w = TimeWindow::new(Duration::from_secs(3600), buckets);
        let mut most = 0;
        for i in 0..20_000 {
            let now = i * SEC / 10;
            let before = w.visits.load(std::sync::atomic::Ordering::Relaxed);
            w.record(if i % 7 == 0 { FAIL } else { OK }, now);
            w.counts(now);
            let after = w.visits.load(std::sync::atomic::Ordering::Relaxed);
            most = most.max(after - before);
        }
        most
    }

    #[test]
    fn work_per_record_does_not_grow_with_the_bucket_count() {
        let few = most_buckets_touched_per_record(10);
        let many = most_buckets_touched_per_record(3600);
        assert!(few <= 3, "10 buckets: {few} buckets touched by one record");
        assert!(
            many <= 3,
            "3,600 buckets: {many} buckets touched by one record"
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

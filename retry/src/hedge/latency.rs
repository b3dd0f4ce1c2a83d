//! [`LatencyCore`]: recent call latencies in a fixed histogram of atomics,
//! and the percentile a [`HedgeDelay::Percentile`](crate::HedgeDelay)
//! reads from it. It takes time as an argument and reads no clock.
//!
//! # Implementation notes
//!
//! Latencies are counted in microseconds in log-linear buckets: values
//! below 8 µs have a bucket each; above, each power of two is split into
//! 8 buckets, so a bucket's width is at most 1/8 of its lower bound and a
//! percentile read as the bucket's upper bound is at most 12.5% above the
//! true value (never below it: the delay errs toward fewer hedges).
//! Values from 2^40 µs (12.7 days) up share the last bucket.
//!
//! Time is cut into windows of `window_nanos`; window `w` (numbered from
//! 1, so that 0 means "never used") is counted in histogram `w % 2`, whose
//! `epoch` says which window it holds. A percentile reads the current and
//! the previous window, so a latency counts for one to two windows.
//!
//! - **Record** (every measured call, lock-free in the common case): load
//!   the histogram's `epoch` (Acquire); if it is the current window,
//!   `fetch_add` one on the bucket (Relaxed). Otherwise **rotate** under
//!   the mutex: if the histogram still holds an older window, zero its
//!   buckets (each with a `swap`, a read-modify-write, so that a racing
//!   add lands wholly before or after it) and publish the new `epoch`
//!   (Release); a record that finds a newer window than its own time (its
//!   clock read raced a rotation) is dropped. A record that loaded the old epoch just before a rotation
//!   may land in the new window or be zeroed with the old one: one
//!   latency out of many, counted at most once.
//! - **Percentile** (read): sum the buckets of the histograms whose epoch
//!   is the current or previous window, walk them to the requested rank.
//!   No lock: a read racing records sees some of them and not others, as
//!   if it had come a moment earlier. A rotation publishes its epoch only
//!   after the zeroing, so a read never counts a stale window's buckets
//!   as the current one's; it may see the previous window partly emptied
//!   by a caller whose clock is a little ahead, as if it came a moment
//!   later.
//! - **Cache**: the percentile is recomputed at most once per eighth of a
//!   window; calls in between read `cached` (Relaxed: any recent value is
//!   a valid delay).

use crate::sync::{AtomicU64, Mutex, Ordering};
use ballast_core::Nanos;

/// Sub-buckets per power of two, as a shift.
#[cfg(not(ballast_loom))]
const SUB_BITS: u32 = 3;
/// Values at or above `2^MAX_EXP` µs share the last bucket.
#[cfg(not(ballast_loom))]
const MAX_EXP: u32 = 40;
// The loom models run the same code on 8 buckets (values up to 15 µs), so
// that a model's scans stay within loom's branch limit.
#[cfg(ballast_loom)]
const SUB_BITS: u32 = 1;
#[cfg(ballast_loom)]
const MAX_EXP: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets in one histogram.
pub(crate) const BUCKETS: usize = ((MAX_EXP - SUB_BITS + 1) as usize) << SUB_BITS;

/// `cached` when no percentile has been computed, or too few samples.
const NONE: u64 = u64::MAX;

/// The bucket counting a latency of `micros`.
#[inline]
pub(crate) fn bucket_of(micros: u64) -> usize {
    let v = micros.min((1 << MAX_EXP) - 1);
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let shift = exp - SUB_BITS;
    let mantissa = (v >> shift) & (SUB - 1);
    (((u64::from(shift) + 1) << SUB_BITS) + mantissa) as usize
}

/// The largest latency, in µs, that bucket `i` counts.
pub(crate) fn upper_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let shift = (i >> SUB_BITS) - 1;
    let mantissa = i & (SUB - 1);
    ((SUB + mantissa) << shift) + (1 << shift) - 1
}

#[derive(Debug)]
struct Histogram {
    /// The window these counts belong to (0: none yet). Written only under
    /// the mutex.
    epoch: AtomicU64,
    counts: Box<[AtomicU64]>,
}

impl Histogram {
    fn new() -> Self {
        Self {
            epoch: AtomicU64::new(0),
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Recent latencies and their percentiles (see the module notes).
#[derive(Debug)]
pub(crate) struct LatencyCore {
    window_nanos: u64,
    /// How long a computed percentile is reused.
    refresh_nanos: u64,
    histograms: [Histogram; 2],
    /// The last computed percentile in nanoseconds, or [`NONE`].
    cached: AtomicU64,
    /// When `cached` goes stale (0: at once).
    cached_until: AtomicU64,
    /// Serialises rotations.
    rotate: Mutex<()>,
}

impl LatencyCore {
    pub(crate) fn new(window_nanos: u64) -> Self {
        let window_nanos = window_nanos.max(1);
        Self {
            window_nanos,
            refresh_nanos: (window_nanos / 8).max(1),
            histograms: [Histogram::new(), Histogram::new()],
            cached: AtomicU64::new(NONE),
            cached_until: AtomicU64::new(0),
            rotate: Mutex::new(()),
        }
    }

    #[inline]
    fn window(&self, now: Nanos) -> u64 {
        now / self.window_nanos + 1
    }

    /// Counts one call that took `latency` nanoseconds, answered at `now`.
    #[inline]
    pub(crate) fn record(&self, now: Nanos, latency: u64) {
        let window = self.window(now);
        let h = &self.histograms[(window % 2) as usize];
        // Acquire: pairs with the Release in `rotate`, so a record that
        // sees the new epoch also sees the buckets it zeroed.
        if h.epoch.load(Ordering::Acquire) != window && !self.rotate(h, window) {
            return;
        }
        // Relaxed: a count; percentiles tolerate reading it late.
        h.counts[bucket_of(latency / 1000)].fetch_add(1, Ordering::Relaxed);
    }

    /// Makes `h` hold `window` if it holds an older one; false if it
    /// already holds a newer one (the caller's time is stale).
    #[cold]
    fn rotate(&self, h: &Histogram, window: u64) -> bool {
        let _rotate = self.rotate.lock();
        // Relaxed: only the mutex holder writes `epoch`.
        let epoch = h.epoch.load(Ordering::Relaxed);
        if epoch > window {
            return false;
        }
        if epoch < window {
            for c in h.counts.iter() {
                // Relaxed: published by the Release store of `epoch`. A
                // swap, not a store: as a read-modify-write it is ordered
                // against a racing record's add, which thus lands either
                // before it (zeroed) or after it (counted once in the new
                // window), never resurrects the old count (loom model
                // `a_stale_record_racing_a_rotation_is_counted_at_most_once`).
                c.swap(0, Ordering::Relaxed);
            }
            // Release: a record or read that sees this epoch sees the
            // zeroed buckets.
            h.epoch.store(window, Ordering::Release);
        }
        true
    }

    /// The `p`-th percentile (in `(0, 100]`) of the latencies of the
    /// current and previous window at `now`, in nanoseconds, if at least
    /// `min_samples` were counted. Reuses a value computed less than an
    /// eighth of a window ago.
    pub(crate) fn percentile(&self, now: Nanos, p: f64, min_samples: u64) -> Option<u64> {
        // Relaxed: a stale pair (new `cached_until`, old `cached`) yields a
        // percentile at most a refresh old, still a valid delay.
        if now < self.cached_until.load(Ordering::Relaxed) {
            let cached = self.cached.load(Ordering::Relaxed);
            return (cached != NONE).then_some(cached);
        }
        let value = self.compute(now, p, min_samples);
        // Relaxed: see above. Racing computations store values computed
        // from the same windows; either is fine.
        self.cached.store(value.unwrap_or(NONE), Ordering::Relaxed);
        self.cached_until
            .store(now.saturating_add(self.refresh_nanos), Ordering::Relaxed);
        value
    }

    /// [`percentile`](Self::percentile) without the cache.
    pub(crate) fn compute(&self, now: Nanos, p: f64, min_samples: u64) -> Option<u64> {
        let window = self.window(now);
        let mut counts = [0u64; BUCKETS];
        let mut total = 0u64;
        for h in &self.histograms {
            // Acquire: pairs with the Release in `rotate`; buckets read
            // after it are not older than its zeroing.
            let epoch = h.epoch.load(Ordering::Acquire);
            if epoch == 0 || (epoch != window && epoch + 1 != window) {
                continue;
            }
            for (sum, c) in counts.iter_mut().zip(h.counts.iter()) {
                // Relaxed: a count (see the module notes).
                let n = c.load(Ordering::Relaxed);
                *sum += n;
                total += n;
            }
        }
        if total == 0 || total < min_samples {
            return None;
        }
        // The smallest rank whose share of the samples reaches p.
        let rank = ((p / 100.0 * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0u64;
        for (i, n) in counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(upper_bound(i).saturating_mul(1000));
            }
        }
        Some(upper_bound(BUCKETS - 1).saturating_mul(1000))
    }

    /// Latencies counted in the current and previous window at `now`.
    #[cfg(test)]
    pub(crate) fn samples(&self, now: Nanos) -> u64 {
        let window = self.window(now);
        self.histograms
            .iter()
            .filter(|h| {
                // Acquire, Relaxed: as in `compute`.
                let e = h.epoch.load(Ordering::Acquire);
                e != 0 && (e == window || e + 1 == window)
            })
            .map(|h| {
                h.counts
                    .iter()
                    .map(|c| c.load(Ordering::Relaxed))
                    .sum::<u64>()
            })
            .sum()
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000 * MS;

    #[test]
    fn buckets_are_contiguous_and_bound_their_values() {
        let mut last = 0;
        for v in (0..100_000u64).chain([1 << 30, (1 << 40) - 1, u64::MAX]) {
            let i = bucket_of(v);
            assert!(i >= last && i <= last + 1 || v >= 100_000, "{v} -> {i}");
            assert!(i < BUCKETS);
            if v < 1 << 40 {
                assert!(upper_bound(i) >= v, "{v} above its bucket's bound");
                assert!(upper_bound(i) - v <= v / 8, "{v}: bucket too wide");
            }
            last = i;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentile_reads_the_rank_and_needs_enough_samples() {
        let c = LatencyCore::new(10 * SEC);
        for ms in 1..=100 {
            c.record(0, ms * MS);
        }
        assert_eq!(c.compute(0, 50.0, 101), None);
        let p50 = c.compute(0, 50.0, 100).unwrap();
        assert!((50 * MS..=50 * MS * 9 / 8).contains(&p50), "{p50}");
        let p99 = c.compute(0, 99.0, 1).unwrap();
        assert!((99 * MS..=99 * MS * 9 / 8).contains(&p99), "{p99}");
        let p100 = c.compute(0, 100.0, 1).unwrap();
        assert!(p100 >= 100 * MS);
    }

    #[test]
    fn latencies_leave_after_two_windows() {
        let c = LatencyCore::new(SEC);
        for _ in 0..10 {
            c.record(0, 50 * MS);
        }
        assert_eq!(c.samples(SEC + SEC / 2), 10);
        for _ in 0..10 {
            c.record(SEC + SEC / 2, 5 * MS);
        }
        assert_eq!(c.samples(SEC + SEC / 2), 20);
        // At 2 s, window 0 has left; at 3 s, window 1 too.
        assert_eq!(c.samples(2 * SEC), 10);
        let p = c.compute(2 * SEC, 99.0, 1).unwrap();
        assert!(p < 6 * MS, "{p}");
        assert_eq!(c.samples(3 * SEC), 0);
        // A record with a stale time after a rotation is dropped.
        c.record(3 * SEC, MS);
        c.record(SEC, MS);
        assert_eq!(c.samples(3 * SEC), 1);
    }

    #[test]
    fn cached_percentile_is_reused_for_an_eighth_of_a_window() {
        let c = LatencyCore::new(8 * SEC);
        c.record(0, 10 * MS);
        let first = c.percentile(0, 50.0, 1).unwrap();
        for _ in 0..100 {
            c.record(0, 500 * MS);
        }
        assert_eq!(c.percentile(SEC - 1, 50.0, 1), Some(first));
        assert!(c.percentile(SEC, 50.0, 1).unwrap() >= 500 * MS);
    }
}

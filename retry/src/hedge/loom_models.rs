//! Loom models of the latency histogram behind percentile delays.
//!
//! Run with `RUSTFLAGS="--cfg ballast_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p ballast-retry --lib -- loom_models`. Each model is
//! two threads over one `LatencyCore` (built with 8 buckets under loom),
//! asserting that a latency is counted at most once, that concurrent
//! records in one window are all counted, that a rotation racing a record
//! never lets an old window's samples survive, and that a read racing a
//! record sees a percentile of samples that exist.

use super::latency::{LatencyCore, bucket_of, upper_bound};
use loom::sync::Arc;
use loom::thread;

const US: u64 = 1_000;
const SEC: u64 = 1_000_000 * US;

/// What a percentile read reports for a latency of `micros`.
fn reported(micros: u64) -> u64 {
    upper_bound(bucket_of(micros)) * US
}

#[test]
fn two_records_in_one_window_are_both_counted() {
    loom::model(|| {
        let c = Arc::new(LatencyCore::new(SEC));
        let threads: Vec<_> = [3 * US, 9 * US]
            .into_iter()
            .map(|latency| {
                let c = c.clone();
                thread::spawn(move || c.record(0, latency))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.samples(0), 2);
        assert_eq!(c.compute(0, 100.0, 2), Some(reported(9)));
        assert_eq!(c.compute(0, 50.0, 2), Some(reported(3)));
    });
}

#[test]
fn two_records_racing_to_rotate_one_histogram_zero_it_once() {
    loom::model(|| {
        // Window 1 (at 0 s) holds an old sample; both threads record at
        // 2 s, whose window reuses that histogram.
        let c = Arc::new(LatencyCore::new(SEC));
        c.record(0, 9 * US);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                thread::spawn(move || c.record(2 * SEC, US))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // The old sample is gone, both new ones count.
        assert_eq!(c.samples(2 * SEC), 2);
        assert_eq!(c.compute(2 * SEC, 100.0, 1), Some(reported(1)));
    });
}

#[test]
fn a_stale_record_racing_a_rotation_is_counted_at_most_once() {
    loom::model(|| {
        let c = Arc::new(LatencyCore::new(SEC));
        c.record(0, 9 * US);
        // One thread records late at 0 s while the other rotates the same
        // histogram to 2 s and records there.
        let stale = {
            let c = c.clone();
            thread::spawn(move || c.record(0, 9 * US))
        };
        let fresh = {
            let c = c.clone();
            thread::spawn(move || c.record(2 * SEC, US))
        };
        stale.join().unwrap();
        fresh.join().unwrap();
        // The fresh sample always counts; the stale one was zeroed with
        // its window, dropped, or counted once in the new window; the old
        // window's first sample never survives.
        let n = c.samples(2 * SEC);
        assert!((1..=2).contains(&n), "{n}");
    });
}

#[test]
fn a_read_racing_a_record_sees_a_percentile_of_real_samples() {
    loom::model(|| {
        let c = Arc::new(LatencyCore::new(SEC));
        c.record(0, 3 * US);
        let writer = {
            let c = c.clone();
            thread::spawn(move || c.record(0, 9 * US))
        };
        let p = c.percentile(0, 100.0, 1);
        writer.join().unwrap();
        assert!(p == Some(reported(3)) || p == Some(reported(9)), "{p:?}");
        assert_eq!(c.samples(0), 2);
    });
}

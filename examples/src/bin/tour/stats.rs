//! What the tour measures as it runs: latencies and outcomes of the
//! storefront's answers and of each dependency call, gathered by window
//! and read by the sampler every tick.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latencies of one window, and counts since the start.
#[derive(Default)]
pub struct Calls {
    /// Latencies since the last [`take`](Self::take), in microseconds.
    window: Mutex<Vec<u64>>,
    /// Calls since the start.
    pub total: AtomicU64,
    /// Calls that failed (an error or a refusal), since the start.
    pub failed: AtomicU64,
}

impl Calls {
    /// Records one call's latency and whether it failed.
    pub fn record(&self, took: Duration, failed: bool) {
        self.window.lock().unwrap().push(took.as_micros() as u64);
        // Relaxed: statistics.
        self.total.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The window's latencies, sorted, leaving an empty window.
    pub fn take(&self) -> Vec<u64> {
        let mut w = std::mem::take(&mut *self.window.lock().unwrap());
        w.sort_unstable();
        w
    }
}

/// The `q` quantile (0 to 1) of sorted microseconds, in milliseconds.
pub fn quantile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// A dependency call measured against its deadline.
#[derive(Default)]
pub struct Deadlines {
    /// Calls measured.
    pub calls: AtomicU64,
    /// The most any call ran past its deadline, in microseconds.
    pub worst_overrun_us: AtomicU64,
    /// Calls that ran past their deadline by more than the tolerance.
    pub over_tolerance: AtomicU64,
}

impl Deadlines {
    /// Records a call that took `took` under a deadline of `budget`.
    pub fn record(&self, took: Duration, budget: Duration, tolerance: Duration) {
        let over = took.saturating_sub(budget);
        // Relaxed: statistics; fetch_max keeps the largest whatever the order.
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.worst_overrun_us
            .fetch_max(over.as_micros() as u64, Ordering::Relaxed);
        if over > tolerance {
            self.over_tolerance.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the storefront's callers got, by status, since the start.
#[derive(Default)]
pub struct Answers {
    /// 202: the order was accepted (its saga started).
    pub accepted: AtomicU64,
    /// 429: the client was over its rate.
    pub rate_limited: AtomicU64,
    /// 503: shed, a dependency refused by our own client side, or the
    /// saga executor restarting.
    pub unavailable: AtomicU64,
    /// 504 and anything else.
    pub other: AtomicU64,
}

impl Answers {
    /// Counts one answer.
    pub fn count(&self, status: u16) {
        let c = match status {
            202 => &self.accepted,
            429 => &self.rate_limited,
            503 => &self.unavailable,
            _ => &self.other,
        };
        // Relaxed: a statistic.
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// (accepted, 429, 503, other) now.
    pub fn get(&self) -> [u64; 4] {
        [
            &self.accepted,
            &self.rate_limited,
            &self.unavailable,
            &self.other,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

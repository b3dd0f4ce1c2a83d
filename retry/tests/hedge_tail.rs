//! What hedging is for: against a dependency where one attempt in twenty
//! is very slow, hedging at a percentile of measured latencies cuts the
//! tail of the calls' latency, for a few percent of extra load, and
//! within its budget.

use ballast_retry::{HedgeConfig, HedgeDelay, HedgePolicy, hedge};
use std::cell::Cell;
use std::time::Duration;
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);
const CALLS: usize = 2000;

/// A dependency whose attempts take 10 ms, except one in twenty (chosen
/// by a fixed pseudo-random sequence) that takes a second.
struct Dependency {
    state: Cell<u64>,
    attempts: Cell<u64>,
}

impl Dependency {
    fn new() -> Self {
        Self {
            state: Cell::new(0x2545_F491_4F6C_DD1D),
            attempts: Cell::new(0),
        }
    }

    fn attempt(&self) -> impl Future<Output = Result<(), ()>> + use<> {
        // xorshift64: the same sequence every run.
        let mut x = self.state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state.set(x);
        self.attempts.set(self.attempts.get() + 1);
        let took = if x % 20 == 0 { 1000 * MS } else { 10 * MS };
        async move {
            tokio::time::sleep(took).await;
            Ok(())
        }
    }
}

/// Latencies of `CALLS` calls one after another, and the attempts made.
async fn run(policy: Option<&HedgePolicy>) -> (Vec<Duration>, u64) {
    let dep = Dependency::new();
    let mut latencies = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        match policy {
            Some(p) => hedge(p, || dep.attempt()).await.unwrap(),
            None => dep.attempt().await.unwrap(),
        }
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    (latencies, dep.attempts.get())
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[tokio::test(start_paused = true)]
async fn hedging_at_a_percentile_cuts_the_tail_for_a_little_extra_load() {
    let (plain, plain_attempts) = run(None).await;
    assert_eq!(plain_attempts, CALLS as u64);
    assert_eq!(
        percentile(&plain, 99),
        1000 * MS,
        "the tail without hedging"
    );

    let policy = HedgePolicy::new(
        HedgeConfig::builder()
            .delay(HedgeDelay::Percentile {
                p: 90.0,
                min: MS,
                max: 500 * MS,
                fallback: 50 * MS,
            })
            .min_samples(50)
            .build()
            .unwrap(),
    );
    let (hedged, attempts) = run(Some(&policy)).await;

    // The 99th percentile falls from a second to about twice the usual
    // latency: a slow first attempt is overtaken by a backup sent at the
    // measured 90th percentile (10 ms, read as its bucket's 10.24 ms).
    let p99 = percentile(&hedged, 99);
    assert!(p99 <= 25 * MS, "p99 {p99:?}");
    assert_eq!(percentile(&hedged, 50), 10 * MS, "the median is untouched");
    // Extra load: one backup per slow first attempt (about 5%), within the
    // hedge budget's 10% plus its minimum.
    let m = policy.metrics();
    let extra = attempts - CALLS as u64;
    println!(
        "p50 {:?} p99 {:?} p99.9 {:?} max {:?} without hedging; \
         p50 {:?} p99 {:?} p99.9 {:?} max {:?} with, {extra} backups for {CALLS} calls",
        percentile(&plain, 50),
        percentile(&plain, 99),
        plain[CALLS * 999 / 1000],
        plain[CALLS - 1],
        percentile(&hedged, 50),
        p99,
        hedged[CALLS * 999 / 1000],
        hedged[CALLS - 1],
    );
    assert_eq!(extra, m.hedges_sent);
    assert!(extra * 100 <= 7 * CALLS as u64, "{m:?}");
    assert!(extra * 100 >= 3 * CALLS as u64, "{m:?}");
    assert_eq!(m.budget_denied, 0, "{m:?}");
}

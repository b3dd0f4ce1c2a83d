//! A percentile delay follows the latencies the policy measures.

mod hedge_support;

use ballast_retry::{HedgeConfig, HedgeDelay, HedgePolicy};
use hedge_support::{Job, MS, Replica};
use std::time::Duration;
use tokio::time::{Instant, advance};

/// More than an eighth of the 10 s window: a cached percentile is stale.
const REFRESH: Duration = Duration::from_millis(1250);
use tower::{Layer, Service, ServiceExt};

fn policy() -> HedgePolicy {
    HedgePolicy::new(
        HedgeConfig::builder()
            .delay(HedgeDelay::Percentile {
                p: 90.0,
                min: MS,
                max: Duration::from_secs(1),
                fallback: 500 * MS,
            })
            .min_samples(20)
            .latency_window(Duration::from_secs(10))
            .no_budget()
            .build()
            .unwrap(),
    )
}

/// True if `d` is within a bucket (1/8) above `expected`.
fn about(d: Duration, expected: Duration) -> bool {
    d >= expected && d <= expected + expected / 8
}

#[tokio::test(start_paused = true)]
async fn percentile_delay_adapts_to_measured_latencies() {
    let policy = policy();
    let mut svc = policy.layer().layer(Replica::default());
    assert_eq!(policy.current_delay(), 500 * MS, "the fallback at first");

    // 20 calls of 100 ms: the 90th percentile is 100 ms.
    for _ in 0..20 {
        let answer = svc
            .ready()
            .await
            .unwrap()
            .call(Job::new(100 * MS, MS))
            .await;
        assert_eq!(answer.unwrap(), 0);
    }
    // The percentile is recomputed at most once per eighth of a window.
    advance(REFRESH).await;
    let d = policy.current_delay();
    assert!(about(d, 100 * MS), "{d:?}");

    // The dependency speeds up to 20 ms; once the 100 ms calls have left
    // the window (after two windows at most), the delay follows.
    let until = Instant::now() + Duration::from_secs(21);
    while Instant::now() < until {
        svc.ready()
            .await
            .unwrap()
            .call(Job::new(20 * MS, MS))
            .await
            .unwrap();
    }
    let d = policy.current_delay();
    assert!(about(d, 20 * MS), "{d:?}");
    assert_eq!(policy.metrics().hedges_sent, 0);

    // A call stuck at its first attempt is now hedged after about 20 ms,
    // and the backup answers 20 ms later.
    let started = Instant::now();
    let answer = svc
        .ready()
        .await
        .unwrap()
        .call(Job::new(Duration::from_secs(5), 20 * MS))
        .await
        .unwrap();
    assert_eq!(answer, 1);
    assert!(
        about(started.elapsed() - 20 * MS, 20 * MS),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn percentile_delay_is_kept_within_its_bounds() {
    let policy = HedgePolicy::new(
        HedgeConfig::builder()
            .delay(HedgeDelay::Percentile {
                p: 50.0,
                min: 30 * MS,
                max: 200 * MS,
                fallback: 100 * MS,
            })
            .min_samples(5)
            .no_budget()
            .build()
            .unwrap(),
    );
    let mut svc = policy.layer().layer(Replica::default());
    for _ in 0..5 {
        svc.ready()
            .await
            .unwrap()
            .call(Job::new(MS, MS))
            .await
            .unwrap();
    }
    advance(REFRESH).await;
    assert_eq!(policy.current_delay(), 30 * MS, "raised to the minimum");

    // Slow calls that answer before the fallback... then past the maximum.
    let later = HedgePolicy::new(policy.config().clone());
    let mut svc = later.layer().layer(Replica::default());
    for _ in 0..5 {
        // Each is hedged at the fallback (100 ms) and the backup answers
        // 400 ms later; the call's measured latency is 500 ms.
        svc.ready()
            .await
            .unwrap()
            .call(Job::new(Duration::from_secs(5), 400 * MS))
            .await
            .unwrap();
    }
    advance(REFRESH).await;
    assert_eq!(later.current_delay(), 200 * MS, "lowered to the maximum");
}

//! Every duration setting of the adaptive limiter at its extremes, one
//! nanosecond and `Duration::MAX`, built in code and (feature `serde`) read
//! from a file with a huge number: calls are driven through the helper and
//! the tower layer on tokio's paused clock, and nothing panics.
//!
//! The adaptive config's only duration setting is AIMD's `timeout` (Vegas
//! and Gradient2 have none): a window whose mean round trip exceeds it
//! counts as a drop. It is compared with measured round trips, never added
//! to an instant.

use ballast_bulkhead::adaptive::{AdaptiveConfig, AdaptiveLimiter, Aimd};
use std::time::Duration;
use tokio::time::sleep;
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// How long each call takes.
const RTT: Duration = Duration::from_millis(1);

fn config(timeout: Duration) -> AdaptiveConfig {
    AdaptiveConfig::builder()
        .initial_limit(10)
        .min_limit(2)
        .max_limit(50)
        .algorithm(Aimd::builder().timeout(timeout).build().unwrap())
        .build()
        .unwrap()
}

/// Drives `rounds` rounds of 20 concurrent calls through the helper, then
/// through the layer, each call taking `RTT`; returns the limit at the end.
async fn drive(limiter: &AdaptiveLimiter, rounds: u32) -> u32 {
    for _ in 0..rounds {
        let calls = (0..20).map(|_| {
            limiter.call(|| async {
                sleep(RTT).await;
                Ok::<_, std::io::Error>(())
            })
        });
        for result in futures::future::join_all(calls).await {
            // A refusal is fine (the limit is lower than 20); only a
            // panic or a lost call would not be.
            if let Err(e) = result {
                assert!(e.rejected().is_some(), "the dependency never fails");
            }
        }
    }
    let svc = ServiceBuilder::new()
        .layer(limiter.layer())
        .service(service_fn(|()| async {
            sleep(RTT).await;
            Ok::<_, std::io::Error>(())
        }));
    for _ in 0..rounds {
        let calls = (0..20).map(|_| svc.clone().oneshot(()));
        futures::future::join_all(calls).await;
    }
    limiter.snapshot().limit
}

#[tokio::test(start_paused = true)]
async fn a_one_nanosecond_timeout_counts_every_window_late_and_holds_the_minimum() {
    let limiter = AdaptiveLimiter::new(config(Duration::from_nanos(1)));
    let limit = drive(&limiter, 50).await;
    // Every window's round trip (1ms) exceeds 1ns: the limit backs off to
    // its floor and stays there.
    assert_eq!(limit, 2);
    assert!(limiter.snapshot().windows > 0);
}

#[tokio::test(start_paused = true)]
async fn a_duration_max_timeout_never_fires_and_the_limit_grows() {
    let limiter = AdaptiveLimiter::new(config(Duration::MAX));
    let limit = drive(&limiter, 50).await;
    // No window is ever late: a used limit grows by one per window.
    assert!(limit > 10, "limit {limit}");
}

#[cfg(feature = "serde")]
mod from_a_file {
    use super::*;

    fn from_json(json: &str) -> Result<AdaptiveConfig, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_of_u64_max_seconds_reads_and_drives_calls() {
        let config =
            from_json(r#"{ "algorithm": { "aimd": { "timeout": 18446744073709551615 } } }"#)
                .unwrap();
        let limiter = AdaptiveLimiter::new(config);
        assert!(drive(&limiter, 20).await >= 20);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_of_one_nanosecond_reads_and_drives_calls() {
        let config =
            from_json(r#"{ "min_limit": 2, "algorithm": { "aimd": { "timeout": "1ns" } } }"#)
                .unwrap();
        let limiter = AdaptiveLimiter::new(config);
        assert_eq!(drive(&limiter, 50).await, 2);
    }

    #[test]
    fn a_timeout_too_large_for_a_duration_is_an_error_not_a_panic() {
        for json in [
            r#"{ "algorithm": { "aimd": { "timeout": 1e300 } } }"#,
            r#"{ "algorithm": { "aimd": { "timeout": "99999999999999999999999d" } } }"#,
        ] {
            assert!(from_json(json).is_err(), "{json}");
        }
    }

    #[test]
    fn a_duration_max_timeout_writes_out_without_panicking() {
        let written = serde_json::to_string(&config(Duration::MAX)).unwrap();
        assert!(written.contains("timeout"), "{written}");
    }
}

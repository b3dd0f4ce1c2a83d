//! No duration a builder or a config file accepts can panic a call: every
//! config (retry, backoff, budget, hedge, the classifiers' caps on a
//! server's wait) is built with all its durations at one nanosecond, at
//! `Duration::MAX`, and (feature `serde`) at a config file's largest
//! number and largest human string, then calls are driven through it on
//! tokio's paused clock. A call that would wait "forever" is cut by a
//! timeout, so each test ends.

use ballast_retry::{
    Backoff, BudgetConfig, Config, HedgeConfig, HedgeDelay, HedgePolicy, Policy, RetryErrors,
    hedge, retry,
};
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tower::{Layer, Service, ServiceExt, service_fn};

/// Longer than any finite wait in these tests, far shorter than "forever".
const HOUR: Duration = Duration::from_secs(3600);

/// The durations every config is built with.
fn extremes() -> [Duration; 2] {
    [Duration::from_nanos(1), Duration::MAX]
}

/// A budget whose window is `d` (one bucket, so a 1 ns window is valid).
fn budget(d: Duration) -> BudgetConfig {
    BudgetConfig::builder()
        .window(d)
        .buckets(1)
        .build()
        .unwrap()
}

/// The backoffs, every duration at `d`.
fn backoffs(d: Duration) -> Vec<Backoff> {
    vec![
        Backoff::constant(d).build().unwrap(),
        Backoff::linear(d).cap(d).build().unwrap(),
        Backoff::exponential(d).build().unwrap(),
        Backoff::exponential(d)
            .factor(1000.0)
            .cap(d)
            .build()
            .unwrap(),
    ]
}

/// Retry configs, every duration at `d`: with and without the total
/// time limit and the budget.
fn retry_configs(d: Duration) -> Vec<Config> {
    let mut configs = Vec::new();
    for backoff in backoffs(d) {
        let b = Config::builder()
            .max_attempts(3)
            .backoff(backoff)
            .min_attempt_time(d);
        configs.push(
            b.clone()
                .max_total_time(d)
                .budget(budget(d))
                .build()
                .unwrap(),
        );
        configs.push(b.clone().budget(budget(d)).build().unwrap());
        configs.push(b.no_budget().build().unwrap());
    }
    configs
}

/// Hedge configs, every duration at `d`: fixed and percentile delays.
fn hedge_configs(d: Duration) -> Vec<HedgeConfig> {
    let delays = [
        HedgeDelay::Fixed(d),
        HedgeDelay::Percentile {
            p: 95.0,
            min: d,
            max: d,
            // The builder's longest fallback is 2^64 - 2 ns.
            fallback: d.min(Duration::from_nanos(u64::MAX - 1)),
        },
    ];
    let mut configs = Vec::new();
    for delay in delays {
        let b = HedgeConfig::builder()
            .delay(delay)
            .min_attempt_time(d)
            // The builder's least latency window is 1 ms.
            .latency_window(d.max(Duration::from_millis(1)))
            .min_samples(1);
        configs.push(b.clone().budget(budget(d)).build().unwrap());
        configs.push(b.no_budget().build().unwrap());
    }
    configs
}

/// Runs `call` for at most an hour; `None` if it was still waiting.
async fn within_an_hour<T>(call: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(HOUR, call).await.ok()
}

/// Drives a failing call through `config`, by the layer and the helper:
/// each makes at least one attempt and at most three, and ends with the
/// dependency's own error or is still waiting after an hour.
async fn drive_retry(config: Config) {
    let policy = Policy::new(config.clone(), RetryErrors);
    let attempts = Arc::new(AtomicU32::new(0));
    let failing = service_fn({
        let attempts = attempts.clone();
        move |_: u32| {
            attempts.fetch_add(1, Ordering::Relaxed);
            async { Err::<u32, _>(io::Error::other("down")) }
        }
    });
    let mut svc = policy.layer().layer(failing);
    let call = async { svc.ready().await?.call(1).await };
    if let Some(result) = within_an_hour(call).await {
        assert_eq!(result.unwrap_err().to_string(), "down", "{config:?}");
    }
    let made = attempts.load(Ordering::Relaxed);
    assert!((1..=3).contains(&made), "{made} attempts under {config:?}");

    let helper_attempts = AtomicU32::new(0);
    let call = retry(&policy, || {
        helper_attempts.fetch_add(1, Ordering::Relaxed);
        async { Err::<u32, _>(io::Error::other("down")) }
    });
    if let Some(result) = within_an_hour(call).await {
        assert_eq!(result.unwrap_err().to_string(), "down", "{config:?}");
    }
    let made = helper_attempts.load(Ordering::Relaxed);
    assert!((1..=3).contains(&made), "{made} attempts under {config:?}");
}

/// Drives slow calls through `config`, by the layer and the helper: each
/// answers (first attempt or backup) within the hour its first attempt
/// takes, having sent at most one backup.
async fn drive_hedge(config: HedgeConfig) {
    let policy = HedgePolicy::new(config.clone());
    let attempts = Arc::new(AtomicU32::new(0));
    let slow = service_fn({
        let attempts = attempts.clone();
        move |_: u32| {
            let n = attempts.fetch_add(1, Ordering::Relaxed);
            async move {
                tokio::time::sleep(HOUR / 2).await;
                Ok::<_, io::Error>(n)
            }
        }
    });
    let mut svc = policy.layer().layer(slow);
    // Twice, so a percentile delay has a measured latency the second time.
    for _ in 0..2 {
        let answer = within_an_hour(async { svc.ready().await?.call(1).await }).await;
        assert!(
            answer.expect("answered within the hour").is_ok(),
            "{config:?}"
        );
    }
    let answer = within_an_hour(hedge(&policy, || async {
        tokio::time::sleep(HOUR / 2).await;
        Ok::<_, io::Error>(0)
    }))
    .await;
    assert!(
        answer.expect("answered within the hour").is_ok(),
        "{config:?}"
    );
    let m = policy.metrics();
    assert!(m.hedges_sent <= 3, "{m:?} under {config:?}");
}

#[tokio::test(start_paused = true)]
async fn retry_configs_at_the_extremes_never_panic() {
    for d in extremes() {
        for config in retry_configs(d) {
            drive_retry(config).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn backoff_delays_at_the_extremes_never_panic() {
    for d in extremes() {
        for backoff in backoffs(d) {
            for (retry, delay) in backoff.delays().take(64).enumerate() {
                assert!(delay <= backoff.cap(), "retry {retry} of {backoff:?}");
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn budgets_at_the_extremes_never_panic() {
    for d in extremes() {
        let budget = ballast_retry::RetryBudget::new(budget(d));
        for _ in 0..100 {
            budget.deposit();
        }
        // 20% of 100 plus the reserve: at least 20 retries allowed.
        let allowed = (0..1000).filter(|_| budget.try_withdraw()).count();
        assert!(allowed >= 20, "{allowed} withdrawals from {budget:?}");
        tokio::time::advance(HOUR).await;
        let _ = budget.available();
    }
}

#[tokio::test(start_paused = true)]
async fn hedge_configs_at_the_extremes_never_panic() {
    for d in extremes() {
        for config in hedge_configs(d) {
            drive_hedge(config).await;
        }
    }
}

/// A deadline of an hour on every call, with the durations at their
/// extremes: the deadline arithmetic does not overflow either.
#[tokio::test(start_paused = true)]
async fn extremes_under_a_deadline_never_panic() {
    for d in extremes() {
        for config in retry_configs(d) {
            ballast_deadline::Deadline::after(HOUR)
                .scope(drive_retry(config))
                .await;
        }
        for config in hedge_configs(d) {
            ballast_deadline::Deadline::after(HOUR)
                .scope(drive_hedge(config))
                .await;
        }
    }
}

#[cfg(feature = "http")]
mod http_classifiers {
    use super::*;
    use ballast_retry::grpc::{GrpcHttpClassifier, GrpcRules};
    use ballast_retry::http::HttpClassifier;
    use http::{Request, Response};

    /// Drives a GET answered by `response` (a server asking for a wait of
    /// 2^64 - 1 seconds) through `classifier`, with no deadline and an
    /// hour's: at least one attempt, at most three.
    async fn drive<C>(classifier: C, response: fn() -> Response<()>)
    where
        C: ballast_retry::Classifier<Response<()>, io::Error> + Clone,
    {
        for deadline in [None, Some(HOUR)] {
            let policy = Policy::new(
                Config::builder().no_budget().build().unwrap(),
                classifier.clone(),
            );
            let attempts = Arc::new(AtomicU32::new(0));
            let server = service_fn({
                let attempts = attempts.clone();
                move |_: Request<()>| {
                    attempts.fetch_add(1, Ordering::Relaxed);
                    async move { Ok::<_, io::Error>(response()) }
                }
            });
            let mut svc = policy.layer().idempotent_http().layer(server);
            let call = async {
                let get = Request::get("/").body(()).unwrap();
                svc.ready().await?.call(get).await
            };
            let answer = match deadline {
                None => within_an_hour(call).await,
                Some(d) => within_an_hour(ballast_deadline::Deadline::after(d).scope(call)).await,
            };
            if let Some(answer) = answer {
                assert!(answer.is_ok(), "the server's own answer");
            }
            let made = attempts.load(Ordering::Relaxed);
            assert!((1..=3).contains(&made), "{made} attempts");
        }
    }

    fn busy_forever() -> Response<()> {
        Response::builder()
            .status(503)
            .header("retry-after", u64::MAX.to_string())
            .body(())
            .unwrap()
    }

    fn grpc_busy_forever() -> Response<()> {
        Response::builder()
            .header("grpc-status", "14")
            .header("grpc-retry-pushback-ms", u64::MAX.to_string())
            .body(())
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn http_max_retry_after_at_the_extremes_never_panics() {
        for d in extremes() {
            drive(HttpClassifier::new().max_retry_after(d), busy_forever).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn grpc_max_pushback_at_the_extremes_never_panics() {
        for d in extremes() {
            let rules = GrpcRules::default().max_pushback(d);
            drive(GrpcHttpClassifier::new().rules(rules), grpc_busy_forever).await;
        }
    }
}

#[cfg(feature = "serde")]
mod config_files {
    use super::*;

    /// A config file's largest durations: the largest JSON number of
    /// seconds, and the largest one-part human string (2^64 - 1 ns).
    const LARGEST: [&str; 2] = ["18446744073709551615", r#""18446744073.709551615s""#];

    #[test]
    fn the_largest_human_string_is_read() {
        let d: Config =
            serde_json::from_str(&format!(r#"{{ "max_total_time": {} }}"#, LARGEST[1])).unwrap();
        assert_eq!(d.max_total_time(), Some(Duration::from_nanos(u64::MAX)));
    }

    fn retry_config(x: &str, kind: &str) -> Config {
        serde_json::from_str(&format!(
            r#"{{
                "max_attempts": 3,
                "backoff": {{ "kind": "{kind}", "base": {x}, "cap": {x} }},
                "max_total_time": {x},
                "min_attempt_time": {x},
                "budget": {{ "window": {x}, "buckets": 1 }}
            }}"#
        ))
        .unwrap()
    }

    fn hedge_configs(x: &str) -> Vec<HedgeConfig> {
        [
            format!(r#""delay": {x}"#),
            format!(r#""delay": {{ "percentile": 95, "min": {x}, "max": {x}, "fallback": "18446744073.709551614s" }}"#),
        ]
        .iter()
        .map(|delay| {
            serde_json::from_str(&format!(
                r#"{{
                    {delay},
                    "min_attempt_time": {x},
                    "latency_window": {x},
                    "min_samples": 1,
                    "budget": {{ "window": {x}, "buckets": 1 }}
                }}"#
            ))
            .unwrap()
        })
        .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn configs_read_from_files_at_the_largest_never_panic() {
        for x in LARGEST {
            for kind in ["constant", "linear", "exponential"] {
                drive_retry(retry_config(x, kind)).await;
            }
            for config in hedge_configs(x) {
                drive_hedge(config).await;
            }
        }
    }
}

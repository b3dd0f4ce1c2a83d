//! With features `metrics` and `redis`, the Redis limiter reports what
//! it admits and refuses through the `metrics` facade under the family's
//! names, against a real Redis (`BALLAST_REDIS_URL`; skipped, saying why,
//! when unset).

#[macro_use]
#[path = "common/redis.rs"]
mod support;
use ballast_test_support::metrics as recorder;

use ballast_core::metric_names as names;
use ballast_ratelimit::redis::{Fallback, RedisConfig, RedisRateLimiter};
use std::time::Duration;
use support::unique_prefix;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_limiter_reports_admitted_and_refused_checks() {
    let url = redis_or_skip!("the_redis_limiter_reports_admitted_and_refused_checks");
    let recording = recorder::recording();
    // Two cells, then one an hour; fail closed, so a fallback could only
    // add refusals, never admissions.
    let config = RedisConfig::builder()
        .name("fleet")
        .rate(1, Duration::from_secs(3600))
        .burst(2)
        .key_prefix(unique_prefix("metrics"))
        .timeout(Duration::from_secs(2))
        .fallback(Fallback::FailClosed)
        .build()
        .unwrap();
    let limiter = metrics::with_local_recorder(&recording, || {
        RedisRateLimiter::connect(url.as_str(), config).unwrap()
    });
    for _ in 0..3 {
        let _ = limiter.check("client").await;
    }
    let m = limiter.metrics();
    assert_eq!(m.fallback_decisions, 0, "Redis decided every check");
    let n = [("name", "fleet")];
    assert_eq!(recording.counter(names::RATELIMIT_CALLS, &n), 2);
    let refused = [("name", "fleet"), ("reason", "rate_limited")];
    assert_eq!(recording.counter(names::RATELIMIT_REFUSALS, &refused), 1);
    assert_eq!((m.admitted, m.rejected), (2, 1));
}

//! The Redis limiter when Redis goes away and comes back, against a real
//! Redis (`BALLAST_REDIS_URL`) behind a loopback proxy that the test cuts
//! and restores (the machine's Redis itself is never stopped).
//!
//! Real time: the breaker's open wait is a few hundred milliseconds, and
//! the tests wait for it with short real sleeps (Redis's clock and the
//! network cannot run on tokio's paused clock).

#[macro_use]
#[path = "common/redis.rs"]
mod support;

use ballast_circuit_breaker::{Config as BreakerConfig, SlidingWindow, State};
use ballast_ratelimit::redis::{
    DecidedBy, Fallback, RedisConfig, RedisConfigBuilder, RedisRateLimiter,
};
use ballast_ratelimit::{Reason, Rejected};
use std::time::Duration;
use support::{Proxy, eventually, limiter, unique_prefix};

const HOUR: Duration = Duration::from_secs(3600);
const OPEN_WAIT: Duration = Duration::from_millis(300);

/// Trips after 2 failures among the last 4 calls, stays open [`OPEN_WAIT`],
/// closes on one good probe.
fn breaker() -> BreakerConfig {
    BreakerConfig::builder()
        .name("redis")
        .sliding_window(SlidingWindow::count(4))
        .minimum_calls(2)
        .failure_rate_threshold(50.0)
        .wait_in_open(OPEN_WAIT)
        .half_open_permits(1)
        .build()
        .unwrap()
}

/// `burst` cells then one an hour, through the breaker above.
fn config(test: &str, burst: u32, fallback: Fallback) -> RedisConfigBuilder {
    RedisConfig::builder()
        .name(test)
        .rate(1, HOUR)
        .burst(burst)
        .key_prefix(unique_prefix(test))
        .timeout(Duration::from_millis(500))
        .fallback(fallback)
        .breaker(breaker())
}

fn is_rate_limited(r: &Rejected) -> bool {
    r.reason() == Reason::RateLimited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_admits_everything_while_redis_is_down_and_stops_calling_it() {
    let url = redis_or_skip!("fail_open_admits_everything_while_redis_is_down");
    let proxy = Proxy::start(&url).await;
    let l = limiter(proxy.url(), config("fail-open", 2, Fallback::FailOpen));
    l.check("k").await.unwrap();
    l.check("k").await.unwrap();
    assert!(l.check("k").await.is_err(), "Redis refuses the third");
    proxy.cut();
    for _ in 0..20 {
        let a = l.check("k").await.expect("fail open admits");
        assert_eq!(a.decided_by, DecidedBy::FailOpen);
        assert_eq!(a.remaining, None);
    }
    assert!(l.is_falling_back());
    assert_eq!(l.breaker().state(), State::Open);
    let m = l.metrics();
    let failed = m.redis_errors + m.redis_timeouts;
    assert!(
        (2..=3).contains(&failed),
        "the breaker trips after 2 failures, got {m:?}"
    );
    assert_eq!(m.short_circuited, 20 - failed, "the rest made no call");
    assert_eq!(m.fallback_decisions, 20);
    assert_eq!((m.admitted, m.rejected, m.redis_decisions), (22, 1, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_refuses_everything_while_redis_is_down() {
    let url = redis_or_skip!("fail_closed_refuses_everything_while_redis_is_down");
    let proxy = Proxy::start(&url).await;
    let l = limiter(proxy.url(), config("fail-closed", 5, Fallback::FailClosed));
    l.check("k").await.unwrap();
    proxy.cut();
    for _ in 0..10 {
        let r = l.check("k").await.expect_err("fail closed refuses");
        assert!(is_rate_limited(&r));
        // Once the breaker is open, the refusal says when it may try again.
        if let Some(after) = r.retry_after_hint() {
            assert!(after <= OPEN_WAIT);
        }
    }
    assert_eq!(l.breaker().state(), State::Open);
    let m = l.metrics();
    assert_eq!((m.admitted, m.rejected, m.fallback_decisions), (1, 10, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_fallback_admits_this_instances_share_while_redis_is_down() {
    let url = redis_or_skip!("local_fallback_admits_this_instances_share");
    let proxy = Proxy::start(&url).await;
    // Burst 10 shared by 2 instances: 5 each while Redis is down.
    let l = limiter(
        proxy.url(),
        config("local", 10, Fallback::Local { instances: 2 }),
    );
    l.check("warm-up").await.unwrap();
    proxy.cut();
    for key in ["a", "b"] {
        let mut admitted = 0;
        for _ in 0..12 {
            match l.check(key).await {
                Ok(a) => {
                    assert_eq!(a.decided_by, DecidedBy::LocalFallback);
                    admitted += 1;
                }
                Err(r) => {
                    assert!(is_rate_limited(&r));
                    // The local share: one cell every 2 hours.
                    let after = r.retry_after_hint().unwrap();
                    assert!(after > 2 * HOUR - Duration::from_secs(30) && after <= 2 * HOUR);
                }
            }
        }
        assert_eq!(admitted, 5, "key {key}: this instance's share of the burst");
    }
    assert_eq!(l.metrics().fallback_decisions, 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_back_restores_the_shared_limit() {
    let url = redis_or_skip!("redis_back_restores_the_shared_limit");
    let proxy = Proxy::start(&url).await;
    let config = config("restore", 4, Fallback::Local { instances: 1 });
    let cut_off = limiter(proxy.url(), config.clone());
    // Another instance whose path to Redis never breaks.
    let direct = limiter(&url, config);
    for _ in 0..4 {
        cut_off.check("k").await.unwrap();
    }
    assert!(
        direct.check("k").await.is_err(),
        "the burst is shared and spent"
    );

    proxy.cut();
    // The local fallback knows nothing of the shared state: 4 more.
    for _ in 0..4 {
        let a = cut_off.check("k").await.unwrap();
        assert_eq!(a.decided_by, DecidedBy::LocalFallback);
    }
    assert_eq!(cut_off.breaker().state(), State::Open);

    proxy.restore();
    // After the open wait the breaker's probe reaches Redis (the connection
    // manager may need one failed probe to reconnect), then it closes.
    let before = cut_off.metrics().redis_decisions;
    let back = eventually(Duration::from_secs(5), async || {
        let _ = cut_off.check("k").await;
        cut_off.metrics().redis_decisions > before
    })
    .await;
    assert!(back, "Redis decides again: {:?}", cut_off.metrics());
    assert_eq!(cut_off.breaker().state(), State::Closed);
    assert!(!cut_off.is_falling_back());
    // The shared limit is back: the key is still spent for both instances.
    for l in [&cut_off, &direct] {
        let r = l.check("k").await.unwrap_err();
        assert!(r.retry_after_hint().unwrap() > HOUR - Duration::from_secs(30));
    }
    // And a fresh key has exactly the shared burst, across both.
    let mut admitted = 0;
    for l in [&cut_off, &direct, &cut_off, &direct, &cut_off, &direct] {
        admitted += u32::from(l.check("fresh").await.is_ok());
    }
    assert_eq!(admitted, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_redis_times_out_into_the_fallback() {
    let url = redis_or_skip!("slow_redis_times_out_into_the_fallback");
    let proxy = Proxy::start(&url).await;
    let l = limiter(
        proxy.url(),
        config("slow", 1, Fallback::FailOpen).timeout(Duration::from_millis(100)),
    );
    l.check("k").await.unwrap();
    assert!(l.check("k").await.is_err());
    proxy.stall();
    let started = std::time::Instant::now();
    let a = l.check("k").await.expect("fail open after the timeout");
    let took = started.elapsed();
    assert_eq!(a.decided_by, DecidedBy::FailOpen);
    assert!(
        took >= Duration::from_millis(100) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(l.metrics().redis_timeouts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_check_gives_the_breaker_its_probe_back() {
    let url = redis_or_skip!("dropped_check_gives_the_breaker_its_probe_back");
    let proxy = Proxy::start(&url).await;
    // A long timeout: the checks below hang until the test drops them.
    let l: RedisRateLimiter = limiter(
        proxy.url(),
        config("cancel", 5, Fallback::FailOpen).timeout(Duration::from_secs(30)),
    );
    l.check("k").await.unwrap();
    proxy.cut();
    while l.breaker().state() != State::Open {
        l.check("k").await.unwrap();
    }
    proxy.stall();
    tokio::time::sleep(OPEN_WAIT + Duration::from_millis(50)).await;
    let skipped = l.metrics().short_circuited;
    // The first check after the wait takes the only half-open probe and
    // hangs on the stalled Redis; the caller gives up (drops it).
    let hung = tokio::time::timeout(Duration::from_millis(200), l.check("k")).await;
    assert!(hung.is_err(), "the probe hangs: {hung:?}");
    assert_eq!(l.breaker().state(), State::HalfOpen);
    // Had the dropped check kept the probe, this one would be refused by
    // the breaker at once (short-circuited). It takes the probe instead.
    let hung = tokio::time::timeout(Duration::from_millis(200), l.check("k")).await;
    assert!(hung.is_err(), "the probe slot was given back: {hung:?}");
    assert_eq!(l.metrics().short_circuited, skipped);
    proxy.restore();
    let back = eventually(
        Duration::from_secs(5),
        async || matches!(l.check("k").await, Ok(a) if a.decided_by == DecidedBy::Redis),
    )
    .await;
    assert!(back, "Redis decides again: {:?}", l.metrics());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_layer_call_never_reaches_the_inner_service() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::{Service, ServiceExt, service_fn};

    let url = redis_or_skip!("dropped_layer_call_never_reaches_the_inner_service");
    let proxy = Proxy::start(&url).await;
    let l = limiter(
        proxy.url(),
        config("layer-drop", 5, Fallback::FailOpen).timeout(Duration::from_secs(30)),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let inner = {
        let calls = calls.clone();
        service_fn(move |_: ()| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(()) }
        })
    };
    let mut svc = tower::ServiceBuilder::new()
        .layer(l.layer(|_: &()| "k"))
        .service(inner);
    svc.ready().await.unwrap().call(()).await.unwrap();
    proxy.stall();
    let hung = tokio::time::timeout(
        Duration::from_millis(200),
        svc.ready().await.unwrap().call(()),
    )
    .await;
    assert!(hung.is_err(), "the check hangs on the stalled Redis");
    proxy.restore();
    svc.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the dropped call was never made"
    );
    assert_eq!(l.breaker().metrics().rejected, 0);
}

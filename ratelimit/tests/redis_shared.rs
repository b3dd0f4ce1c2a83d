//! The Redis limiter against a real Redis (`BALLAST_REDIS_URL`): many
//! instances share one limit exactly, on Redis's clock.
//!
//! These talk to a real server, whose `TIME` tokio's paused clock cannot
//! drive, so they run on real time and are built so exact counts are
//! robust: burst-only checks within a window far shorter than the
//! emission interval (an hour), or bounds read from Redis's own clock.

#[macro_use]
#[path = "common/redis.rs"]
mod support;

use ballast_ratelimit::redis::{
    DecidedBy, Fallback, RedisConfig, RedisConfigBuilder, RedisRateLimiter,
};
use ballast_ratelimit::{Reason, Rejected};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{limiter, raw, redis_time, unique_prefix};
use tower::{Service, ServiceExt, service_fn};

const HOUR: Duration = Duration::from_secs(3600);

/// `burst` cells, then one an hour; fail closed (a fallback would show as
/// refusals, never as extra admissions); a generous timeout so a busy
/// machine does not time checks out.
fn hourly(test: &str, burst: u32) -> RedisConfigBuilder {
    RedisConfig::builder()
        .name(test)
        .rate(1, HOUR)
        .burst(burst)
        .key_prefix(unique_prefix(test))
        .timeout(Duration::from_secs(2))
        .fallback(Fallback::FailClosed)
}

fn assert_retry_within_the_hour(r: &Rejected) {
    assert_eq!(r.reason(), Reason::RateLimited);
    let after = r.retry_after_hint().expect("a not-now rejection");
    assert!(
        after <= HOUR && after > HOUR - Duration::from_secs(30),
        "retry after {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_separate_connections_share_one_burst_exactly() {
    let url = redis_or_skip!("instances_on_separate_connections_share_one_burst_exactly");
    const BURST: u32 = 40;
    let config = hourly("share", BURST);
    // Four instances, each with its own connection, three tasks each.
    let instances: Vec<_> = (0..4).map(|_| limiter(&url, config.clone())).collect();
    let mut tasks = Vec::new();
    for limiter in &instances {
        for _ in 0..3 {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                let mut admitted = 0u32;
                for _ in 0..30 {
                    match limiter.check("tenant").await {
                        Ok(a) => {
                            assert_eq!(a.decided_by, DecidedBy::Redis);
                            admitted += 1;
                        }
                        Err(r) => assert_retry_within_the_hour(&r),
                    }
                }
                admitted
            }));
        }
    }
    let mut admitted = 0;
    for task in tasks {
        admitted += task.await.unwrap();
    }
    assert_eq!(
        admitted, BURST,
        "360 checks from 4 instances share one burst"
    );
    let total = instances
        .iter()
        .map(|l| l.metrics())
        .fold((0, 0, 0), |acc, m| {
            (
                acc.0 + m.admitted,
                acc.1 + m.redis_decisions,
                acc.2 + m.fallback_decisions,
            )
        });
    assert_eq!(total, (u64::from(BURST), 360, 0));
    // Another key of the same limiter has its own burst.
    assert!(instances[0].check("other-tenant").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admissions_follow_the_rate_measured_on_redis_clock() {
    let url = redis_or_skip!("admissions_follow_the_rate_measured_on_redis_clock");
    // One cell every 40 ms, burst 10 (so a stall of the test machine
    // shorter than 400 ms loses no cell), hammered by two instances for
    // ~600 ms.
    const T_US: u64 = 40_000;
    const BURST: u64 = 10;
    let config = RedisConfig::builder()
        .rate(25, Duration::from_secs(1))
        .burst(BURST as u32)
        .key_prefix(unique_prefix("rate"))
        .timeout(Duration::from_secs(2))
        .fallback(Fallback::FailClosed);
    let a = limiter(&url, config.clone());
    let b = limiter(&url, config);
    let mut clock = raw(&url).await;
    let start = redis_time(&mut clock).await;
    let hammer = |l: RedisRateLimiter| {
        tokio::spawn(async move {
            let until = tokio::time::Instant::now() + Duration::from_millis(600);
            let mut admitted = 0u64;
            while tokio::time::Instant::now() < until {
                if l.check("k").await.is_ok() {
                    admitted += 1;
                }
            }
            admitted
        })
    };
    let (ta, tb) = (hammer(a), hammer(b));
    let admitted = ta.await.unwrap() + tb.await.unwrap();
    let end = redis_time(&mut clock).await;
    // GCRA from fresh over [start, end] admits at most burst + ⌊elapsed / T⌋;
    // hammered without pause, it loses at most the cell due in the last
    // round trip.
    let most = BURST + (end - start) / T_US;
    assert!(
        admitted <= most && admitted + 2 >= most,
        "admitted {admitted}, GCRA allows {most} over {}µs",
        end - start
    );
}

#[tokio::test]
async fn n_cells_pass_together_or_not_at_all() {
    let url = redis_or_skip!("n_cells_pass_together_or_not_at_all");
    let l = limiter(&url, hourly("n-cells", 10));
    let a = l.check_n("k", 4).await.unwrap();
    assert_eq!(a.remaining, Some(6));
    assert_eq!(l.check_n("k", 4).await.unwrap().remaining, Some(2));
    // Two more cells are due in two hours (less the few ms since).
    let r = l.check_n("k", 4).await.unwrap_err();
    let after = r.retry_after_hint().unwrap();
    assert!(after <= 2 * HOUR && after > 2 * HOUR - Duration::from_secs(30));
    let last = l.check_n("k", 2).await.unwrap();
    assert_eq!(last.remaining, Some(0));
    let reset = last.reset_after.unwrap();
    assert!(reset <= 10 * HOUR && reset > 10 * HOUR - Duration::from_secs(30));
    // More than the burst can never pass, and is refused without a call.
    assert!(l.check_n("fresh", 11).await.unwrap_err().is_permanent());
    assert!(l.check_n("fresh", 0).await.is_ok());
    assert_eq!(l.check_n("fresh", 10).await.unwrap().remaining, Some(0));
}

#[tokio::test]
async fn a_fractional_interval_gives_an_exact_retry_after() {
    let url = redis_or_skip!("a_fractional_interval_gives_an_exact_retry_after");
    // 3 a second: one cell every 333_333.333 µs.
    let l = limiter(
        &url,
        RedisConfig::builder()
            .rate(3, Duration::from_secs(1))
            .burst(1)
            .key_prefix(unique_prefix("fraction"))
            .timeout(Duration::from_secs(2)),
    );
    let started = std::time::Instant::now();
    l.check("k").await.unwrap();
    let after = l.check("k").await.unwrap_err().retry_after_hint().unwrap();
    let since = started.elapsed();
    // Rounded up to the microsecond: a "not before".
    assert!(after <= Duration::from_micros(333_334), "{after:?}");
    assert!(
        after + since >= Duration::from_micros(333_333),
        "{after:?} after {since:?}"
    );
}

#[test]
fn skewed_local_clock_changes_nothing() {
    let url = redis_or_skip!("skewed_local_clock_changes_nothing");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = hourly("skew", 6);
        let honest = limiter(&url, config.clone());
        for _ in 0..3 {
            honest.check("k").await.unwrap();
        }
        // Skew this runtime's clock two hours ahead (more than the whole
        // burst needs to refill), then let it run on in real time.
        tokio::time::pause();
        tokio::time::advance(2 * HOUR).await;
        tokio::time::resume();
        let skewed = limiter(&url, config);
        // Redis's clock decides: the burst has not refilled for anyone.
        for l in [&skewed, &honest, &skewed] {
            assert_eq!(l.check("k").await.unwrap().decided_by, DecidedBy::Redis);
        }
        for l in [&skewed, &honest] {
            assert_retry_within_the_hour(&l.check("k").await.unwrap_err());
        }
    });
}

#[tokio::test]
async fn idle_keys_expire_when_their_burst_has_refilled() {
    let url = redis_or_skip!("idle_keys_expire_when_their_burst_has_refilled");
    let prefix = unique_prefix("expiry");
    // One cell every 10 s, burst 3.
    let l = limiter(
        &url,
        RedisConfig::builder()
            .rate(1, Duration::from_secs(10))
            .burst(3)
            .key_prefix(prefix.clone())
            .timeout(Duration::from_secs(2)),
    );
    let mut conn = raw(&url).await;
    let key = format!("{prefix}k");
    let pttl = async |conn: &mut redis::aio::MultiplexedConnection| -> i64 {
        redis::cmd("PTTL")
            .arg(&key)
            .query_async(conn)
            .await
            .unwrap()
    };
    assert_eq!(pttl(&mut conn).await, -2, "no key before the first check");
    l.check("k").await.unwrap();
    let one = pttl(&mut conn).await;
    assert!(one > 9_000 && one <= 10_000, "one cell taken: pttl {one}");
    l.check_n("k", 2).await.unwrap();
    let three = pttl(&mut conn).await;
    assert!(
        three > 29_000 && three <= 30_000,
        "three cells: pttl {three}"
    );
    // A refusal writes nothing.
    l.check("k").await.unwrap_err();
    assert!(pttl(&mut conn).await <= three);
}

#[tokio::test]
async fn an_invalid_url_is_an_error_not_a_panic() {
    let config = RedisConfig::builder().rate(1, HOUR).build().unwrap();
    assert!(RedisRateLimiter::connect("not a redis url", config).is_err());
}

#[tokio::test]
async fn script_is_loaded_again_after_redis_forgets_it() {
    let url = redis_or_skip!("script_is_loaded_again_after_redis_forgets_it");
    let l = limiter(&url, hourly("noscript", 3));
    l.check("k").await.unwrap();
    // As after a restart: EVALSHA answers NOSCRIPT, the script is sent again.
    let mut conn = raw(&url).await;
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(l.check("k").await.unwrap().remaining, Some(1));
    assert_eq!(l.metrics().redis_errors, 0);
}

#[tokio::test]
async fn layer_refuses_with_the_exact_retry_after_and_never_calls_inside() {
    let url = redis_or_skip!("layer_refuses_with_the_exact_retry_after_and_never_calls_inside");
    let l = limiter(&url, hourly("layer", 2));
    let calls = Arc::new(AtomicUsize::new(0));
    let inner = {
        let calls = calls.clone();
        service_fn(move |req: (&'static str, u32)| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, std::io::Error>(req.1) }
        })
    };
    let mut svc = tower::ServiceBuilder::new()
        .layer(l.layer(|req: &(&'static str, u32)| req.0))
        .service(inner);
    assert_eq!(
        svc.ready().await.unwrap().call(("alice", 1)).await.unwrap(),
        1
    );
    // A clone of the service shares the limit.
    let mut clone = svc.clone();
    assert_eq!(
        clone
            .ready()
            .await
            .unwrap()
            .call(("alice", 2))
            .await
            .unwrap(),
        2
    );
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(("alice", 3))
        .await
        .unwrap_err();
    let rejected = err
        .downcast_ref::<Rejected>()
        .expect("refused by the limiter");
    assert_retry_within_the_hour(rejected);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "a refused request is not called"
    );
    assert_eq!(
        svc.ready().await.unwrap().call(("bob", 4)).await.unwrap(),
        4
    );
    let m = l.metrics();
    assert_eq!((m.admitted, m.rejected), (3, 1));
}

#[tokio::test]
async fn shadow_mode_records_refusals_and_admits_everything() {
    let url = redis_or_skip!("shadow_mode_records_refusals_and_admits_everything");
    let l = limiter(&url, hourly("shadow", 2).shadow(true));
    let mut shadowed = 0;
    for _ in 0..5 {
        let a = l.check("k").await.expect("shadow mode admits");
        assert_eq!(a.decided_by, DecidedBy::Redis);
        shadowed += u32::from(a.shadowed);
    }
    assert_eq!(shadowed, 3);
    let m = l.metrics();
    assert_eq!((m.admitted, m.rejected, m.shadowed), (2, 3, 3));
    // The decisions were real: Redis holds the key exhausted.
    let enforcing = limiter(
        &url,
        hourly("shadow", 2).key_prefix(l.config().key_prefix().to_owned()),
    );
    assert_retry_within_the_hour(&enforcing.check("k").await.unwrap_err());
}

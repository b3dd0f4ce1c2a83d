//! Every hot path of the family as users call it, with its peers in the
//! same run (issue 14's table).
//!
//! Each service row runs in both modes (`reused`: one value made ready and
//! called again and again; `clone`: `svc.clone().oneshot(req)` per call, as
//! axum, tonic and hyper servers call a stack), with one task on a
//! current-thread runtime and two tasks on a two-worker runtime (time per
//! call per task), on the real clock: this package builds tokio without
//! `test-util`. The rate limiter's direct and keyed checks are plain
//! methods: they run on one thread and on two, with the limiter reused or
//! cloned per check. The `floor` rows show what an `Arc` clone and drop
//! and an atomic add cost on the machine, alone and contended by two
//! threads: the share of a row that no layer sharing its state across
//! clones can avoid.
//!
//! A row and its peers' rows of the same shape run back to back, so the
//! ratios compare times measured seconds apart, not minutes (the two-task
//! rows of a shared VM swing for tens of seconds at a time).
//!
//! Run: `cargo bench -p ballast-benches --bench hot_paths` (minutes: 0.5 s
//! of warm-up and 1.5 s of measurement a row). Read ratios between rows of
//! one run, not absolute times; if `2_tasks/bare` is about twice
//! `1_task/bare`, another process had a core and the `2_tasks` rows are
//! void.

use ballast_bench::{
    Mode, Runtimes, SHAPES, Shape, configure_short, run_modes, run_one_task, run_shape,
};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use std::convert::Infallible;
use std::fmt::Debug;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::Barrier;
use std::time::{Duration, Instant};
use tower::{Service, ServiceBuilder, service_fn};

/// The bulkheads' limit: far above what two tasks hold at once.
const LIMIT: u32 = 1024;
/// The timeout rows' timeout: never reached.
const TIMEOUT: Duration = Duration::from_secs(1);
/// Keys the keyed rate limiters are walked over.
const KEYS: u64 = 10_000;

type Bare = tower::util::ServiceFn<fn(u64) -> Ready<Result<u64, Infallible>>>;

/// The service every row wraps: answers at once, never fails.
fn bare() -> Bare {
    service_fn(|x: u64| ready(Ok::<_, Infallible>(x)))
}

// ---- circuit breaker -------------------------------------------------------

fn breaker() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_circuit_breaker::{Breaker, Config};
    let breaker = Breaker::new(Config::default());
    ServiceBuilder::new().layer(breaker.layer()).service(bare())
}

fn recloser() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    ballast_bench::peers::Recloser::new(bare())
}

/// Keys the keyed breaker's rows walk over (the request is its own key).
const BREAKER_KEYS: u64 = 100;

fn keyed_breaker() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_circuit_breaker::Config;
    use ballast_circuit_breaker::keyed::{KeyedBreakers, KeyedSettings};
    let breakers = KeyedBreakers::<u64>::new(Config::default(), KeyedSettings::default());
    let key: fn(&u64) -> u64 = |req| req % BREAKER_KEYS;
    ServiceBuilder::new()
        .layer(breakers.layer(key))
        .service(bare())
}

// ---- bulkheads -------------------------------------------------------------

fn bulkhead() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_bulkhead::{Bulkhead, Config};
    let config = Config::builder().max_concurrent_calls(LIMIT).build();
    let bulkhead = Bulkhead::new(config.expect("a valid config"));
    ServiceBuilder::new()
        .layer(bulkhead.layer())
        .service(bare())
}

fn concurrency_limit()
-> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    ServiceBuilder::new()
        .concurrency_limit(LIMIT as usize)
        .service(bare())
}

fn adaptive_vegas() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send
{
    use ballast_bulkhead::adaptive::{AdaptiveConfig, AdaptiveLimiter, Vegas};
    let config = AdaptiveConfig::builder()
        .initial_limit(LIMIT)
        .min_limit(LIMIT)
        .max_limit(LIMIT)
        .algorithm(Vegas::default())
        .build();
    let limiter = AdaptiveLimiter::new(config.expect("a valid config"));
    ServiceBuilder::new().layer(limiter.layer()).service(bare())
}

// ---- retry -----------------------------------------------------------------

fn retry_policy() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_retry::{Config, Policy, RetryErrors};
    let policy = Policy::new(Config::default(), RetryErrors);
    ServiceBuilder::new().layer(policy.layer()).service(bare())
}

fn tower_retry() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(NeverRetry))
        .service(bare())
}

fn resilience_retry() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send
{
    use tower_resilience::retry::RetryLayer;
    let layer = RetryLayer::<u64, u64, Infallible>::builder().build();
    ServiceBuilder::new().layer(layer).service(bare())
}

/// The least a `tower::retry::Policy` can be: copies the request, never
/// retries.
#[derive(Clone, Copy)]
struct NeverRetry;

impl<E> tower::retry::Policy<u64, u64, E> for NeverRetry {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut u64, _: &mut Result<u64, E>) -> Option<Self::Future> {
        black_box(Some(ready(()))).filter(|_| false)
    }

    fn clone_request(&mut self, req: &u64) -> Option<u64> {
        Some(*req)
    }
}

// ---- timeout ---------------------------------------------------------------

fn timeout() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_deadline::{Config, TimeoutLayer};
    let config = Config::with_timeout(TIMEOUT).expect("1 s is a valid timeout");
    ServiceBuilder::new()
        .layer(TimeoutLayer::new(config))
        .service(bare())
}

fn tower_timeout() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    ServiceBuilder::new()
        .layer(tower::timeout::TimeoutLayer::new(TIMEOUT))
        .service(bare())
}

// ---- rate limit ------------------------------------------------------------

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("not zero")
}

/// A rate no row reaches: every check is admitted.
const RATE: u32 = 1_000_000_000;
const BURST: u32 = 1 << 30;

fn ballast_config() -> ballast_ratelimit::Config {
    let quota = ballast_ratelimit::Quota::per_second(nz(RATE)).allow_burst(nz(BURST));
    let config = ballast_ratelimit::Config::builder().quota(quota).build();
    config.expect("a valid config")
}

fn governor_quota() -> governor::Quota {
    governor::Quota::per_second(nz(RATE)).allow_burst(nz(BURST))
}

fn rate_limit_layer() -> ballast_ratelimit::RateLimit<Bare> {
    let limiter = ballast_ratelimit::RateLimiter::new(ballast_config());
    ServiceBuilder::new().layer(limiter.layer()).service(bare())
}

fn tower_rate_limit() -> tower::limit::RateLimit<Bare> {
    ServiceBuilder::new()
        .rate_limit(u64::MAX / 4, Duration::from_secs(1))
        .service(bare())
}

/// `check` run `iters` times on one thread, or on each of two threads
/// side by side (the time from the first start to the last end).
fn threads(n: usize, iters: u64, check: impl Fn(u64) -> bool + Sync) -> Duration {
    let barrier = Barrier::new(n);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n as u64)
            .map(|t| {
                let (barrier, check) = (&barrier, &check);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let first = t * KEYS / 2;
                    for i in first..first + iters {
                        assert!(black_box(check(black_box(i))), "every check is admitted");
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    let start = spans.iter().map(|&(s, _)| s).min().expect("a span");
    let end = spans.iter().map(|&(_, e)| e).max().expect("a span");
    end - start
}

/// One row of a check: `reused` or `cloned` (by `shape.mode`) called by
/// `shape.tasks` threads.
fn bench_check(
    group: &mut BenchmarkGroup<'_, WallTime>,
    shape: Shape,
    name: &str,
    reused: impl Fn(u64) -> bool + Sync,
    cloned: impl Fn(u64) -> bool + Sync,
) {
    let id = BenchmarkId::new(shape.name(), name);
    let n = shape.tasks;
    match shape.mode {
        Mode::Reused => {
            group.bench_function(id, |b| b.iter_custom(|iters| threads(n, iters, &reused)))
        }
        Mode::Cloned => {
            group.bench_function(id, |b| b.iter_custom(|iters| threads(n, iters, &cloned)))
        }
    };
}

fn rate_limit_checks(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratelimit_direct");
    configure_short(&mut group);
    let ballast = ballast_ratelimit::RateLimiter::new(ballast_config());
    let gov = Arc::new(governor::RateLimiter::direct(governor_quota()));
    // Each shape's rows back to back (see `ballast_bench::run_shape`).
    for shape in SHAPES {
        bench_check(
            &mut group,
            shape,
            "ballast",
            |_| ballast.check().is_ok(),
            |_| ballast.clone().check().is_ok(),
        );
        bench_check(
            &mut group,
            shape,
            "governor",
            |_| gov.check().is_ok(),
            |_| Arc::clone(&gov).check().is_ok(),
        );
    }
    group.finish();

    let mut group = c.benchmark_group("ratelimit_keyed");
    configure_short(&mut group);
    let ballast = ballast_ratelimit::KeyedRateLimiter::<u64>::new(ballast_config());
    // The same limiter hashing keys with SipHash, std's `RandomState`
    // (the choice for keys from hostile clients).
    let sip = ballast_ratelimit::KeyedRateLimiter::<u64, _>::with_hasher(
        ballast_config(),
        std::hash::RandomState::new(),
    );
    let gov = Arc::new(governor::RateLimiter::<u64, _, _, _>::keyed(
        governor_quota(),
    ));
    for key in 0..KEYS {
        assert!(ballast.check(&key).is_ok() && gov.check_key(&key).is_ok());
        assert!(sip.check(&key).is_ok());
    }
    for shape in SHAPES {
        bench_check(
            &mut group,
            shape,
            "ballast",
            |i| ballast.check(&(i % KEYS)).is_ok(),
            |i| ballast.clone().check(&(i % KEYS)).is_ok(),
        );
        bench_check(
            &mut group,
            shape,
            "ballast_siphash",
            |i| sip.check(&(i % KEYS)).is_ok(),
            |i| sip.clone().check(&(i % KEYS)).is_ok(),
        );
        bench_check(
            &mut group,
            shape,
            "governor",
            |i| gov.check_key(&(i % KEYS)).is_ok(),
            |i| Arc::clone(&gov).check_key(&(i % KEYS)).is_ok(),
        );
    }
    group.finish();
}

// ---- the floor -------------------------------------------------------------

/// What sharing costs on this machine, beside the rows above: one `Arc`
/// cloned and dropped per call (a reference-count increment and
/// decrement), and one relaxed atomic add, on one thread and on two
/// threads sharing the count. Every layer whose clones share their state
/// pays the first in both modes; with two tasks it is the contended
/// increment and decrement a call through shared state cannot avoid.
fn floor(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor");
    configure_short(&mut group);
    let shared = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for (tasks, n) in [("1_task", 1), ("2_tasks", 2)] {
        let id = BenchmarkId::new(tasks, "arc_clone_drop");
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                threads(n, iters, |_| {
                    drop(black_box(Arc::clone(&shared)));
                    true
                })
            })
        });
        let id = BenchmarkId::new(tasks, "atomic_add");
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                threads(n, iters, |_| {
                    let add = std::sync::atomic::Ordering::Relaxed;
                    black_box(&shared).fetch_add(1, add);
                    true
                })
            })
        });
    }
    group.finish();
}

// ---- the services ----------------------------------------------------------

fn services(c: &mut Criterion) {
    let runtimes = Runtimes::new();
    let mut row = |name: &str, rows: &dyn Fn(&mut BenchmarkGroup<'_, WallTime>)| {
        let mut group = c.benchmark_group(name);
        configure_short(&mut group);
        rows(&mut group);
        group.finish();
    };
    let r = &runtimes;
    row("bare", &|g| run_modes(g, r, "bare", bare));
    row("breaker", &|g| {
        for shape in SHAPES {
            run_shape(g, r, shape, "ballast", breaker);
            run_shape(g, r, shape, "recloser", recloser);
        }
    });
    row("keyed_breaker", &|g| {
        run_modes(g, r, "ballast_100_keys", keyed_breaker)
    });
    row("bulkhead", &|g| {
        for shape in SHAPES {
            run_shape(g, r, shape, "ballast", bulkhead);
            run_shape(g, r, shape, "tower_concurrency_limit", concurrency_limit);
        }
    });
    row("adaptive", &|g| {
        run_modes(g, r, "ballast_vegas", adaptive_vegas)
    });
    row("retry", &|g| {
        for shape in SHAPES {
            run_shape(g, r, shape, "ballast_policy", retry_policy);
            run_shape(g, r, shape, "tower", tower_retry);
            run_shape(g, r, shape, "tower_resilience", resilience_retry);
        }
    });
    row("timeout", &|g| {
        for shape in SHAPES {
            run_shape(g, r, shape, "ballast", timeout);
            run_shape(g, r, shape, "tower", tower_timeout);
        }
    });
    row("ratelimit_layer", &|g| {
        // tower's RateLimit makes its timer when built: inside a runtime.
        let _one = r.one.enter();
        for shape in SHAPES {
            run_shape(g, r, shape, "ballast", rate_limit_layer);
            // tower's RateLimit is not `Clone`: it runs reused, by one task.
            if shape.mode == Mode::Reused && shape.tasks == 1 {
                run_one_task(g, &r.one, "tower", tower_rate_limit);
            }
        }
    });
}

criterion_group!(benches, services, rate_limit_checks, floor);
criterion_main!(benches);

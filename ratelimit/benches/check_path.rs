//! What a rate-limit check costs, ballast against its peers in one run.
//!
//! - `direct/admit`, `direct/reject`: the bare GCRA check, ballast's
//!   [`Gcra::check`] against governor 0.10's direct `check`, both fed the
//!   same fake clock (a thread-local counter stepping one emission interval
//!   per read), so every `admit` check passes (one CAS) and every `reject`
//!   check fails (one load): this measures the algorithm, not a clock.
//! - `direct_2_threads/admit`: the same on two threads sharing one limiter
//!   (time is per call per thread; equal to 1 thread means perfect scaling).
//! - `keyed/admit`: 10,000 keys round-robin, ballast's [`KeyedRateLimiter`]
//!   against governor's default keyed (dashmap) limiter, same fake clock.
//! - `layer/1_task`: a trivial service behind ballast's layer and behind
//!   `tower::limit::RateLimit`, both on tokio's clock, with a rate so high
//!   neither ever waits.
//!
//! Run: `cargo bench -p ballast-ratelimit --bench check_path`. Read ratios.

use ballast_ratelimit::{Config, Gcra, KeyedRateLimiter, Quota, RateLimiter};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use governor::clock::Clock as GovClock;
use std::cell::Cell;
use std::convert::Infallible;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// One cell per microsecond.
const RATE: u32 = 1_000_000;
const INTERVAL: u64 = 1_000;

std::thread_local! {
    static NOW: Cell<u64> = const { Cell::new(0) };
}

/// The fake clock both sides read: each read moves this thread's time on
/// by `step` ns (thread-local, so two threads do not contend on it).
fn tick(step: u64) -> u64 {
    NOW.with(|c| {
        let now = c.get();
        c.set(now + step);
        now
    })
}

/// governor's view of the same fake clock.
#[derive(Clone, Copy)]
struct Fake(u64);

impl GovClock for Fake {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Duration::from_nanos(tick(self.0))
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn ballast_gcra() -> Gcra {
    Gcra::new(Quota::per_second(nz(RATE)).allow_burst(nz(10))).unwrap()
}

type GovDirect = governor::RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    Fake,
    governor::middleware::NoOpMiddleware<Duration>,
>;

fn governor_direct(step: u64) -> GovDirect {
    governor::RateLimiter::direct_with_clock(
        governor::Quota::per_second(nz(RATE)).allow_burst(nz(10)),
        Fake(step),
    )
}

fn direct(c: &mut Criterion) {
    let mut group = c.benchmark_group("direct");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    // Admit: the clock steps one interval per read, so each check passes.
    let g = ballast_gcra();
    group.bench_function(BenchmarkId::new("admit", "ballast"), |b| {
        b.iter(|| black_box(g.check(tick(INTERVAL))).is_ok())
    });
    let gov = governor_direct(INTERVAL);
    group.bench_function(BenchmarkId::new("admit", "governor"), |b| {
        b.iter(|| black_box(gov.check()).is_ok())
    });
    // Reject: the clock stands still on an exhausted limiter.
    let g = ballast_gcra();
    let now = tick(0);
    while g.check(now).is_ok() {}
    group.bench_function(BenchmarkId::new("reject", "ballast"), |b| {
        b.iter(|| black_box(g.check(tick(0))).is_err())
    });
    let gov = governor_direct(0);
    while gov.check().is_ok() {}
    group.bench_function(BenchmarkId::new("reject", "governor"), |b| {
        b.iter(|| black_box(gov.check()).is_err())
    });
    group.finish();

    let mut group = c.benchmark_group("direct_2_threads");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let g = ballast_gcra();
    group.bench_function(BenchmarkId::new("admit", "ballast"), |b| {
        b.iter_custom(|iters| two_threads(iters, || black_box(g.check(tick(2 * INTERVAL))).is_ok()))
    });
    let gov = governor_direct(2 * INTERVAL);
    group.bench_function(BenchmarkId::new("admit", "governor"), |b| {
        b.iter_custom(|iters| two_threads(iters, || black_box(gov.check()).is_ok()))
    });
    group.finish();
}

/// Runs `f` `iters` times on each of two threads; wall time until both finish.
fn two_threads(iters: u64, f: impl Fn() -> bool + Sync) -> Duration {
    let barrier = std::sync::Barrier::new(2);
    let start = std::sync::Mutex::new(None::<Instant>);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                barrier.wait();
                start.lock().unwrap().get_or_insert_with(Instant::now);
                for _ in 0..iters {
                    black_box(f());
                }
            });
        }
    });
    start.into_inner().unwrap().unwrap().elapsed()
}

fn keyed(c: &mut Criterion) {
    const KEYS: u64 = 10_000;
    let mut group = c.benchmark_group("keyed");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    let config = Config::builder()
        .quota(Quota::per_second(nz(RATE)).allow_burst(nz(10)))
        .build()
        .unwrap();
    let ballast = KeyedRateLimiter::<u64>::new(config);
    let mut i = 0u64;
    // Each key is checked once per 10,000 steps of 1ns: far below its rate.
    group.bench_function(BenchmarkId::new("admit", "ballast"), |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(ballast.check_n_at(&i, 1, tick(1))).is_ok()
        })
    });
    let gov: governor::RateLimiter<
        u64,
        governor::state::keyed::DefaultKeyedStateStore<u64>,
        Fake,
        governor::middleware::NoOpMiddleware<Duration>,
    > = governor::RateLimiter::dashmap_with_clock(
        governor::Quota::per_second(nz(RATE)).allow_burst(nz(10)),
        Fake(1),
    );
    group.bench_function(BenchmarkId::new("admit", "governor"), |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(gov.check_key(&i)).is_ok()
        })
    });
    group.finish();
}

async fn calls<S>(svc: &mut S, iters: u64)
where
    S: Service<u64, Response = u64, Error: std::fmt::Debug>,
{
    for i in 0..iters {
        let ready = svc.ready().await.expect("always ready");
        black_box(ready.call(black_box(i)).await.expect("never limited"));
    }
}

fn layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bare = || service_fn(|x: u64| async move { Ok::<_, Infallible>(x) });
    let mut group = c.benchmark_group("layer");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    let mut svc = bare();
    group.bench_function(BenchmarkId::new("1_task", "bare"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                calls(&mut svc, iters).await;
                t.elapsed()
            })
        })
    });
    let limiter = rt.block_on(async {
        RateLimiter::new(
            Config::builder()
                .rate(1_000_000_000, Duration::from_secs(1))
                .build()
                .unwrap(),
        )
    });
    let mut svc = ServiceBuilder::new().layer(limiter.layer()).service(bare());
    group.bench_function(BenchmarkId::new("1_task", "ballast"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                calls(&mut svc, iters).await;
                t.elapsed()
            })
        })
    });
    let mut svc = rt.block_on(async {
        ServiceBuilder::new()
            .rate_limit(u64::MAX / 4, Duration::from_secs(1))
            .service(bare())
    });
    group.bench_function(BenchmarkId::new("1_task", "tower"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                calls(&mut svc, iters).await;
                t.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, direct, keyed, layer);
criterion_main!(benches);

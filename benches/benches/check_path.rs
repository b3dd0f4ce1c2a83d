//! What a rate-limit check costs, ballast against its peers in one run.
//!
//! - `direct/admit`, `direct/reject`: the bare GCRA check, ballast's
//!   [`Gcra::check`] against governor 0.10's direct `check`, both fed the
//!   same fake clock (a counter stepping a fixed amount per read), so every
//!   `admit` check passes (one CAS) and every `reject` check fails (one
//!   load): this measures the algorithm, not a clock.
//! - `keyed/admit`: 10,000 keys round-robin, ballast's [`KeyedRateLimiter`]
//!   against governor's default keyed (dashmap) limiter, same fake clock.
//! - `direct_2_threads/admit`, `keyed_2_threads/admit`: the same on two
//!   threads sharing one limiter (time per check per thread: equal to the
//!   1-thread row means perfect scaling).
//! - `layer/1_task`, `layer/2_tasks`: a trivial service behind ballast's
//!   layer, behind tower-resilience 0.13's rate limiter layer, and (1 task
//!   only: it is not `Clone`, so two tasks cannot share one) behind
//!   `tower::limit::RateLimit`, all on tokio's clock with a rate so high
//!   that no call ever waits. `bare` is the service alone.
//!
//! # The fake clock on two threads
//!
//! Each thread keeps its own counter (a thread-local, so the clock adds no
//! shared write of its own); every measurement starts both threads' counters
//! at one shared base, the furthest time any thread reached so far, so time
//! never goes back from one sample to the next and both threads start
//! level. Within a sample the two counters drift apart by however far one
//! thread runs ahead of the other (a time slice of a few million reads
//! when the machine is busy), so the limiter's shared state sees time move
//! back and forth by up to that much. The 2-thread rows therefore use a
//! rate of one cell per nanosecond with a burst of 2^30 (a burst window of
//! about a second of fake time, far beyond any drift): every check admits
//! whatever the interleaving, for ballast and governor alike, and both do
//! the same work per check (load, decide, one CAS, retried when the other
//! thread moved the state). The rows count their rejections and panic if
//! there is any, so an invalid run cannot pass unnoticed.
//!
//! A shared `AtomicU64` clock advanced by each read would keep one
//! monotonic time, but its contended `fetch_add` would cost as much as the
//! check itself on both sides and hide the difference being measured.
//!
//! # Reading the layer rows
//!
//! tower's `RateLimit` is not `Clone`: it owns its count and changes it
//! through `&mut self`, with no atomic instruction, and its check is one
//! comparison of two instants. ballast's limit is shared by every clone,
//! so an admitted call costs one compare-and-swap on the GCRA word (a
//! locked instruction, a full fence on x86) and a bump of the admitted
//! counter (a plain store to the thread's own stripe), and the GCRA needs
//! `now` as a number of nanoseconds, which costs a subtraction of two
//! `Instant`s in std (out of line, with its checks) on top of the clock
//! read both pay. In callgrind that is about 260 instructions per call
//! (with the bench loop) against tower's 105; the tokio clock read itself
//! (a `clock_gettime` and, with tokio's `test-util`, a mutex) is the same
//! on both sides and dominates both in time.
//!
//! Run: `cargo bench -p ballast-benches --bench check_path`. Read ratios.

use ballast_bench::{Runtimes, configure, run, run_one_task};
use ballast_ratelimit::{Config, Gcra, KeyedRateLimiter, Quota, RateLimiter};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use governor::clock::Clock as GovClock;
use std::cell::Cell;
use std::convert::Infallible;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tower::{ServiceBuilder, service_fn};

/// One cell per microsecond, burst 10: the 1-thread rows.
const RATE: u32 = 1_000_000;
const INTERVAL: u64 = 1_000;
/// One cell per nanosecond, burst 2^30: the 2-thread rows (see the docs).
const FAST_RATE: u32 = 1_000_000_000;
const FAST_BURST: u32 = 1 << 30;
const KEYS: u64 = 10_000;

std::thread_local! {
    static NOW: Cell<u64> = const { Cell::new(0) };
}

/// The furthest fake time any finished measurement reached.
static BASE: AtomicU64 = AtomicU64::new(0);

/// The fake clock both sides read: each read moves this thread's time on
/// by `step` ns.
fn tick(step: u64) -> u64 {
    NOW.with(|c| {
        let now = c.get();
        c.set(now + step);
        now
    })
}

/// Starts this thread's clock at the shared base.
fn start_level() {
    // Relaxed: a plain number; the threads are started after it is set.
    NOW.with(|c| c.set(BASE.load(Ordering::Relaxed)));
}

/// Publishes how far this thread's clock went.
fn finish_level() {
    // Relaxed: as above; joins order it before the next measurement.
    BASE.fetch_max(NOW.with(Cell::get), Ordering::Relaxed);
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

fn slow_quota() -> Quota {
    Quota::per_second(nz(RATE)).allow_burst(nz(10))
}

fn fast_quota() -> Quota {
    Quota::per_second(nz(FAST_RATE)).allow_burst(nz(FAST_BURST))
}

fn gov_quota(quota: Quota) -> governor::Quota {
    let per_sec = 1_000_000_000 / quota.emission_interval().as_nanos() as u32;
    governor::Quota::per_second(nz(per_sec)).allow_burst(quota.burst())
}

type GovDirect = governor::RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    Fake,
    governor::middleware::NoOpMiddleware<Duration>,
>;

type GovKeyed = governor::RateLimiter<
    u64,
    governor::state::keyed::DefaultKeyedStateStore<u64>,
    Fake,
    governor::middleware::NoOpMiddleware<Duration>,
>;

fn governor_direct(quota: Quota, step: u64) -> GovDirect {
    governor::RateLimiter::direct_with_clock(gov_quota(quota), Fake(step))
}

fn governor_keyed(quota: Quota, step: u64) -> GovKeyed {
    governor::RateLimiter::dashmap_with_clock(gov_quota(quota), Fake(step))
}

fn ballast_keyed(quota: Quota) -> KeyedRateLimiter<u64> {
    KeyedRateLimiter::new(Config::builder().quota(quota).build().unwrap())
}

fn direct(c: &mut Criterion) {
    let mut group = c.benchmark_group("direct");
    configure(&mut group);
    // Admit: the clock steps one interval per read, so each check passes.
    let g = Gcra::new(slow_quota()).unwrap();
    group.bench_function(BenchmarkId::new("admit", "ballast"), |b| {
        b.iter(|| assert!(black_box(g.check(tick(INTERVAL))).is_ok()))
    });
    let gov = governor_direct(slow_quota(), INTERVAL);
    group.bench_function(BenchmarkId::new("admit", "governor"), |b| {
        b.iter(|| assert!(black_box(gov.check()).is_ok()))
    });
    // Reject: the clock stands still on an exhausted limiter.
    let g = Gcra::new(slow_quota()).unwrap();
    let now = tick(0);
    while g.check(now).is_ok() {}
    group.bench_function(BenchmarkId::new("reject", "ballast"), |b| {
        b.iter(|| assert!(black_box(g.check(tick(0))).is_err()))
    });
    let gov = governor_direct(slow_quota(), 0);
    while gov.check().is_ok() {}
    group.bench_function(BenchmarkId::new("reject", "governor"), |b| {
        b.iter(|| assert!(black_box(gov.check()).is_err()))
    });
    group.finish();

    finish_level();
    let mut group = c.benchmark_group("direct_2_threads");
    configure(&mut group);
    let g = Gcra::new(fast_quota()).unwrap();
    group.bench_function(BenchmarkId::new("admit", "ballast"), |b| {
        b.iter_custom(|iters| two_threads(iters, |_| g.check(tick(2)).is_ok()))
    });
    let gov = governor_direct(fast_quota(), 2);
    group.bench_function(BenchmarkId::new("admit", "governor"), |b| {
        b.iter_custom(|iters| two_threads(iters, |_| gov.check().is_ok()))
    });
    group.finish();
}

fn keyed(c: &mut Criterion) {
    let mut group = c.benchmark_group("keyed");
    configure(&mut group);
    // Each key is checked once per 10,000 steps of 1ns: far below its rate.
    let ballast = ballast_keyed(slow_quota());
    let mut i = 0u64;
    group.bench_function(BenchmarkId::new("admit", "ballast"), |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            assert!(black_box(ballast.check_n_at(&i, 1, tick(1))).is_ok())
        })
    });
    let gov = governor_keyed(slow_quota(), 1);
    group.bench_function(BenchmarkId::new("admit", "governor"), |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            assert!(black_box(gov.check_key(&i)).is_ok())
        })
    });
    group.finish();

    finish_level();
    let mut group = c.benchmark_group("keyed_2_threads");
    configure(&mut group);
    // Both threads walk the keys from different starting points.
    let ballast = ballast_keyed(fast_quota());
    group.bench_function(BenchmarkId::new("admit", "ballast"), |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |n| {
                ballast.check_n_at(&(n % KEYS), 1, tick(1)).is_ok()
            })
        })
    });
    let gov = governor_keyed(fast_quota(), 1);
    group.bench_function(BenchmarkId::new("admit", "governor"), |b| {
        b.iter_custom(|iters| two_threads(iters, |n| gov.check_key(&(n % KEYS)).is_ok()))
    });
    group.finish();
}

/// Runs `f(n)` for `iters` values of `n` on each of two threads (thread
/// `t` starts at `n = t × 5,000`); the wall time until both finish. Panics
/// if any call returned `false` (a rejected check: an invalid row).
fn two_threads(iters: u64, f: impl Fn(u64) -> bool + Sync) -> Duration {
    let barrier = std::sync::Barrier::new(2);
    let start = std::sync::Mutex::new(None::<Instant>);
    let refused = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (barrier, start, refused, f) = (&barrier, &start, &refused, &f);
            s.spawn(move || {
                start_level();
                barrier.wait();
                start.lock().unwrap().get_or_insert_with(Instant::now);
                let mut no = 0;
                for n in t * KEYS / 2..t * KEYS / 2 + iters {
                    if !black_box(f(black_box(n))) {
                        no += 1;
                    }
                }
                finish_level();
                // Relaxed: read after the scope joins the threads.
                refused.fetch_add(no, Ordering::Relaxed);
            });
        }
    });
    let elapsed = start.into_inner().unwrap().unwrap().elapsed();
    let refused = refused.into_inner();
    assert_eq!(refused, 0, "a 2-thread row must admit every check");
    elapsed
}

type Bare = tower::util::ServiceFn<fn(u64) -> std::future::Ready<Result<u64, Infallible>>>;

fn bare() -> Bare {
    service_fn(|x: u64| std::future::ready(Ok::<_, Infallible>(x)))
}

fn ballast_layer() -> ballast_ratelimit::RateLimit<Bare> {
    let limiter = RateLimiter::new(
        Config::builder()
            .rate(1_000_000_000, Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    ServiceBuilder::new().layer(limiter.layer()).service(bare())
}

fn resilience_layer() -> tower_resilience::ratelimiter::RateLimiter<Bare> {
    let layer = tower_resilience::ratelimiter::RateLimiterLayer::builder()
        .limit_for_period(usize::MAX / 4)
        .refresh_period(Duration::from_secs(1))
        .build()
        .unwrap();
    ServiceBuilder::new().layer(layer).service(bare())
}

fn tower_layer() -> tower::limit::RateLimit<Bare> {
    ServiceBuilder::new()
        .rate_limit(u64::MAX / 4, Duration::from_secs(1))
        .service(bare())
}

fn layer(c: &mut Criterion) {
    let runtimes = Runtimes::new();
    let mut group = c.benchmark_group("layer");
    configure(&mut group);
    // The services are built inside the runtimes: tower's RateLimit makes
    // its timer at once.
    let _one = runtimes.one.enter();
    run(&mut group, &runtimes, "bare", bare);
    run(&mut group, &runtimes, "ballast", ballast_layer);
    run(&mut group, &runtimes, "tower-resilience", resilience_layer);
    run_one_task(&mut group, &runtimes.one, "tower", tower_layer);
    group.finish();
}

criterion_group!(benches, direct, keyed, layer);
criterion_main!(benches);

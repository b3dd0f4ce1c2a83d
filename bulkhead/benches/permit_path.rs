//! What a bulkhead costs a call that finds a free permit: the permit path.
//!
//! One trivial service, bare and behind each limiter, every call `Ok`:
//! - `1_task`: one service value on a current-thread runtime;
//! - `2_tasks`: two tasks on a 2-worker runtime, each with its own clone of
//!   the service (one shared limit), each making `iters` calls; the time
//!   is the wall time until both finish, so it is per call per task and
//!   reads like `1_task` (equal figures mean the limiter scales perfectly).
//!
//! Both limiters allow 1024 concurrent calls, so no call ever waits:
//! ballast's fixed bulkhead and `tower::limit::ConcurrencyLimit`.
//!
//! Run: `cargo bench -p ballast-bulkhead --bench permit_path`.
//! Read ratios to `bare`, not absolute times. `2_tasks` needs a core per
//! worker: if `2_tasks/bare` is about twice `1_task/bare`, something else
//! had a core (a busy machine) and the `2_tasks` figures are void; rerun.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use std::convert::Infallible;
use std::fmt::Debug;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const LIMIT: u32 = 1024;

/// The service every implementation wraps: answers at once, never fails.
fn bare() -> impl Service<u64, Response = u64, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(|x: u64| async move { Ok::<_, Infallible>(x) })
}

fn ballast() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_bulkhead::{Bulkhead, Config};
    let bulkhead = Bulkhead::new(
        Config::builder()
            .max_concurrent_calls(LIMIT)
            .build()
            .expect("valid config"),
    );
    ServiceBuilder::new()
        .layer(bulkhead.layer())
        .service(bare())
}

fn tower_limit() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    ServiceBuilder::new()
        .concurrency_limit(LIMIT as usize)
        .service(bare())
}

/// `iters` calls on `svc`, one after another, as a caller makes them.
async fn calls<S>(svc: &mut S, iters: u64)
where
    S: Service<u64, Response = u64, Error: Debug>,
{
    for i in 0..iters {
        let ready = svc.ready().await.expect("always ready");
        black_box(ready.call(black_box(i)).await.expect("always succeeds"));
    }
}

/// Benchmarks `make`'s service as `impl_name` in both scenarios.
fn run<S>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtimes: &Runtimes,
    impl_name: &str,
    make: fn() -> S,
) where
    S: Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send + 'static,
{
    let mut svc = make();
    group.bench_function(BenchmarkId::new("1_task", impl_name), |b| {
        b.iter_custom(|iters| {
            runtimes.one.block_on(async {
                let start = Instant::now();
                calls(&mut svc, iters).await;
                start.elapsed()
            })
        })
    });

    let svc = make();
    group.bench_function(BenchmarkId::new("2_tasks", impl_name), |b| {
        b.iter_custom(|iters| {
            runtimes.two.block_on(async {
                let arrived = Arc::new(AtomicUsize::new(0));
                let tasks: Vec<_> = (0..2)
                    .map(|_| {
                        let mut svc = svc.clone();
                        let arrived = arrived.clone();
                        tokio::spawn(async move {
                            start_line(&arrived, 2);
                            let start = Instant::now();
                            calls(&mut svc, iters).await;
                            (start, Instant::now())
                        })
                    })
                    .collect();
                let mut spans = Vec::new();
                for task in tasks {
                    spans.push(task.await.expect("no panic"));
                }
                // From the first start to the last finish.
                let start = spans.iter().map(|&(start, _)| start).min();
                let end = spans.iter().map(|&(_, end)| end).max();
                end.unwrap() - start.unwrap()
            })
        })
    });
}

/// Spins until `n` tasks have arrived, so they start together. It blocks
/// the worker on purpose: the other task can then only arrive on another
/// worker, so the tasks really run in parallel (an async barrier lets one
/// worker pick up both and run them one after the other).
fn start_line(arrived: &AtomicUsize, n: usize) {
    arrived.fetch_add(1, Ordering::AcqRel);
    let deadline = Instant::now() + Duration::from_secs(10);
    while arrived.load(Ordering::Acquire) < n {
        assert!(
            Instant::now() < deadline,
            "the tasks never ran side by side"
        );
        std::hint::spin_loop();
    }
}

struct Runtimes {
    one: Runtime,
    two: Runtime,
}

fn permit_path(c: &mut Criterion) {
    let runtimes = Runtimes {
        one: Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
        two: Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime"),
    };
    let mut group = c.benchmark_group("permit_path");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    run(&mut group, &runtimes, "bare", bare);
    run(&mut group, &runtimes, "ballast", ballast);
    run(
        &mut group,
        &runtimes,
        "tower_concurrency_limit",
        tower_limit,
    );
    group.finish();
}

criterion_group!(benches, permit_path);
criterion_main!(benches);

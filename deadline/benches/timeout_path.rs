//! What a timeout costs a call that finishes in time: the ready path.
//!
//! One trivial service that answers at once, bare and behind each timeout,
//! called one call after another by one task on a current-thread runtime:
//! - `bare`: the service alone;
//! - `ballast`: ballast's `TimeoutLayer` with a 1 s timeout and no request
//!   deadline (so the inner call still runs inside a deadline scope);
//! - `tower`: `tower::timeout::TimeoutLayer` with 1 s.
//!
//! Run: `cargo bench -p ballast-deadline --bench timeout_path`.
//! Read ratios to `bare` and between the two timeouts, not absolute times.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use std::convert::Infallible;
use std::fmt::Debug;
use std::hint::black_box;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const TIMEOUT: Duration = Duration::from_secs(1);

/// The service every implementation wraps: answers at once, never fails.
fn bare() -> impl Service<u64, Response = u64, Error = Infallible> {
    service_fn(|x: u64| async move { Ok::<_, Infallible>(x) })
}

fn ballast() -> impl Service<u64, Response = u64, Error: Debug> {
    use ballast_deadline::{Config, TimeoutLayer};
    let config = Config::with_timeout(TIMEOUT).expect("1 s is a valid timeout");
    ServiceBuilder::new()
        .layer(TimeoutLayer::new(config))
        .service(bare())
}

fn tower() -> impl Service<u64, Response = u64, Error: Debug> {
    ServiceBuilder::new()
        .layer(tower::timeout::TimeoutLayer::new(TIMEOUT))
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

fn run<S>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    impl_name: &str,
    make: fn() -> S,
) where
    S: Service<u64, Response = u64, Error: Debug>,
{
    let mut svc = make();
    group.bench_function(BenchmarkId::new("1_task", impl_name), |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                calls(&mut svc, iters).await;
                start.elapsed()
            })
        })
    });
}

fn timeout_path(c: &mut Criterion) {
    let runtime = Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("timeout_path");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    run(&mut group, &runtime, "bare", bare);
    run(&mut group, &runtime, "ballast", ballast);
    run(&mut group, &runtime, "tower", tower);
    group.finish();
}

criterion_group!(benches, timeout_path);
criterion_main!(benches);

//! What a retry layer costs a call that succeeds at once: the success path.
//!
//! One trivial service, bare and behind each retry layer, every call `Ok`,
//! one service value on a current-thread runtime (`1_task`):
//! - `bare`: the `service_fn` alone;
//! - `ballast`: ballast's retry with `Config::default()` (budget on: 20%
//!   plus 10 a second) and the `RetryErrors` classifier;
//! - `tower`: `tower::retry::Retry` with a minimal policy that copies the
//!   request (as ours does) and never retries.
//!
//! Run: `cargo bench -p ballast-retry --bench success_path`. Read the
//! difference to `bare`, not absolute times.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::convert::Infallible;
use std::fmt::Debug;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// The service every implementation wraps: answers at once, never fails.
fn bare() -> impl Service<u64, Response = u64, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(|x: u64| async move { Ok::<_, Infallible>(x) })
}

fn ballast() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_retry::{Config, Policy, RetryErrors};
    let policy = Policy::new(Config::default(), RetryErrors);
    ServiceBuilder::new().layer(policy.layer()).service(bare())
}

fn tower() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(NeverRetry))
        .service(bare())
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
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    name: &str,
    make: fn() -> S,
) where
    S: Service<u64, Response = u64, Error: Debug>,
{
    let mut svc = make();
    c.bench_function(BenchmarkId::new("1_task", name), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                calls(&mut svc, iters).await;
                start.elapsed()
            })
        })
    });
}

fn success_path(c: &mut Criterion) {
    let rt = Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("success_path");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    run(&mut group, &rt, "bare", bare);
    run(&mut group, &rt, "ballast", ballast);
    run(&mut group, &rt, "tower", tower);
    group.finish();
}

criterion_group!(benches, success_path);
criterion_main!(benches);

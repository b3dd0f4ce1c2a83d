//! What a circuit breaker costs a call that succeeds: the closed path.
//!
//! One trivial service, bare and behind each breaker, every call `Ok`:
//! - `1_task`: one service value on a current-thread runtime;
//! - `2_tasks`: two tasks on a 2-worker runtime, each with its own clone of
//!   the service (one shared breaker), each making `iters` calls; the time
//!   is the wall time until both finish, so it is per call per task and
//!   reads like `1_task` (equal figures mean the breaker scales perfectly).
//!
//! Each breaker is set up as a user would by default: ballast's
//! `Config::default()`, `Recloser::default()`, failsafe's `Config::new()`,
//! and tower-resilience's `CircuitBreakerLayer::builder().build()`. recloser
//! and failsafe have no tower layer, so each is wrapped in the small
//! `Service` a user would write around its async API.
//!
//! Run: `cargo bench -p ballast-circuit-breaker --bench closed_path`.
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
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// The service every implementation wraps: answers at once, never fails.
fn bare() -> impl Service<u64, Response = u64, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(|x: u64| async move { Ok::<_, Infallible>(x) })
}

fn ballast() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_circuit_breaker::{Breaker, Config};
    let breaker = Breaker::new(Config::default());
    ServiceBuilder::new().layer(breaker.layer()).service(bare())
}

fn tower_resilience() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send
{
    use tower_resilience::circuitbreaker::CircuitBreakerLayer;
    let layer = CircuitBreakerLayer::builder()
        .build()
        .expect("the default configuration is valid");
    ServiceBuilder::new().layer(layer).service(bare())
}

fn recloser() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    Recloser {
        inner: bare(),
        breaker: recloser::AsyncRecloser::from(recloser::Recloser::default()),
    }
}

fn failsafe() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    Failsafe {
        inner: bare(),
        breaker: failsafe::Config::new().build(),
    }
}

/// `inner` behind recloser, as a user would write it: recloser has no layer.
#[derive(Clone)]
struct Recloser<S> {
    inner: S,
    breaker: recloser::AsyncRecloser,
}

impl<S: Service<u64>> Service<u64> for Recloser<S> {
    type Response = S::Response;
    type Error = recloser::Error<S::Error>;
    type Future = recloser::RecloserFuture<S::Future, recloser::AnyError>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(recloser::Error::Inner)
    }

    fn call(&mut self, req: u64) -> Self::Future {
        self.breaker.call(self.inner.call(req))
    }
}

/// `inner` behind failsafe's futures breaker, as a user would write it.
#[derive(Clone)]
struct Failsafe<S, B> {
    inner: S,
    breaker: B,
}

impl<S, B> Service<u64> for Failsafe<S, B>
where
    S: Service<u64>,
    B: failsafe::futures::CircuitBreaker,
{
    type Response = S::Response;
    type Error = failsafe::Error<S::Error>;
    type Future = failsafe::futures::ResponseFuture<
        S::Future,
        B::FailurePolicy,
        B::Instrument,
        failsafe::Any,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(failsafe::Error::Inner)
    }

    fn call(&mut self, req: u64) -> Self::Future {
        self.breaker.call(self.inner.call(req))
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

fn closed_path(c: &mut Criterion) {
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
    let mut group = c.benchmark_group("closed_path");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    run(&mut group, &runtimes, "bare", bare);
    run(&mut group, &runtimes, "ballast", ballast);
    run(&mut group, &runtimes, "recloser", recloser);
    run(&mut group, &runtimes, "failsafe", failsafe);
    run(&mut group, &runtimes, "tower_resilience", tower_resilience);
    group.finish();
}

criterion_group!(benches, closed_path);
criterion_main!(benches);

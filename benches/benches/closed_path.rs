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
//! Rows added for the costs that grow with the work:
//! - `ballast_time_10` / `ballast_time_3600`: ballast with a one-hour time
//!   window in 10 and in 3,600 buckets (a record must cost the same);
//! - `keyed_hot` / `keyed_hot_flood` (`1_task` only): calls of one hot key
//!   through a keyed registry full of live keys (the default 10,000), alone
//!   and while another thread asks for a new key in a loop (keys from the
//!   internet): the hot key's calls must not stall behind the flood.
//!
//! Run: `cargo bench -p ballast-benches --bench closed_path`.
//! Read ratios to `bare`, not absolute times. `2_tasks` needs a core per
//! worker: if `2_tasks/bare` is about twice `1_task/bare`, something else
//! had a core (a busy machine) and the `2_tasks` figures are void; rerun.

use ballast_bench::{Runtimes, calls, configure, run};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use std::convert::Infallible;
use std::fmt::Debug;
use std::hint::black_box;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Service, ServiceBuilder, service_fn};

/// The service every implementation wraps: answers at once, never fails.
fn bare() -> impl Service<u64, Response = u64, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(|x: u64| async move { Ok::<_, Infallible>(x) })
}

fn ballast() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_circuit_breaker::{Breaker, Config};
    let breaker = Breaker::new(Config::default());
    ServiceBuilder::new().layer(breaker.layer()).service(bare())
}

fn ballast_time(
    buckets: u32,
) -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_circuit_breaker::{Breaker, Config, SlidingWindow};
    use std::time::Duration;
    let window = SlidingWindow::time_with_buckets(Duration::from_secs(3600), buckets);
    let config = Config::builder().sliding_window(window).build();
    let breaker = Breaker::new(config.expect("a valid time window"));
    ServiceBuilder::new().layer(breaker.layer()).service(bare())
}

fn ballast_time_10() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send
{
    ballast_time(10)
}

fn ballast_time_3600()
-> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    ballast_time(3600)
}

/// Calls of one hot key through a registry full of live keys; with
/// `flood`, another thread asks for a new key all the while.
fn keyed_hot(group: &mut BenchmarkGroup<'_, WallTime>, runtimes: &Runtimes, flood: bool) {
    use ballast_circuit_breaker::Config;
    use ballast_circuit_breaker::keyed::{KeyedBreakers, KeyedSettings};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let settings = KeyedSettings::default();
    let breakers = KeyedBreakers::<u64>::new(Config::default(), settings);
    let full = settings.max_keys() as u64;
    // Full: the hot key 0 and `full - 1` others, all in use.
    runtimes.one.block_on(async {
        for key in 0..full {
            breakers.breaker(&key);
        }
    });
    let mut svc = ServiceBuilder::new()
        .layer(breakers.layer(|_: &u64| 0_u64))
        .service(bare());
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flood.then(|| {
        let (breakers, stop) = (breakers.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut key = full - 1;
            // Relaxed: a stop flag; nothing is published through it.
            while !stop.load(Ordering::Relaxed) {
                key += 1;
                black_box(breakers.breaker(&key));
            }
        })
    });
    let name = if flood {
        "keyed_hot_flood"
    } else {
        "keyed_hot"
    };
    group.bench_function(BenchmarkId::new("1_task", name), |b| {
        b.iter_custom(|iters| {
            runtimes.one.block_on(async {
                let start = Instant::now();
                calls(&mut svc, iters).await;
                start.elapsed()
            })
        })
    });
    // Relaxed: see above; the join below waits for the thread.
    stop.store(true, Ordering::Relaxed);
    if let Some(flooder) = flooder {
        flooder.join().expect("the flood thread does not panic");
    }
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
    ballast_bench::peers::Recloser::new(bare())
}

fn failsafe() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    Failsafe {
        inner: bare(),
        breaker: failsafe::Config::new().build(),
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

fn closed_path(c: &mut Criterion) {
    let runtimes = Runtimes::new();
    let mut group = c.benchmark_group("closed_path");
    configure(&mut group);
    run(&mut group, &runtimes, "bare", bare);
    run(&mut group, &runtimes, "ballast", ballast);
    run(&mut group, &runtimes, "recloser", recloser);
    run(&mut group, &runtimes, "failsafe", failsafe);
    run(&mut group, &runtimes, "tower_resilience", tower_resilience);
    run(&mut group, &runtimes, "ballast_time_10", ballast_time_10);
    run(
        &mut group,
        &runtimes,
        "ballast_time_3600",
        ballast_time_3600,
    );
    keyed_hot(&mut group, &runtimes, false);
    keyed_hot(&mut group, &runtimes, true);
    group.finish();
}

criterion_group!(benches, closed_path);
criterion_main!(benches);

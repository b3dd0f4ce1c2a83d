//! What feature `metrics` costs per call: a call through the fixed
//! bulkhead's layer (`fixed_call`: a permit free, no queue) and through
//! the adaptive limiter's (`adaptive_call`: under its limit, the round
//! trip measured), answered at once, with the feature on, built with no
//! recorder installed (every handle a no-op: the cost of the feature
//! itself) and built under a recorder whose handles are atomic counters
//! (the cost of reporting: a counter bump and the in-flight gauge up and
//! down per call). Built without the feature, each group has the rows
//! `feature_off` (and its `_clone_per_call`), the same path: run it both
//! ways and compare the rows. Each row has a `_clone_per_call` twin
//! calling through a fresh clone of the service, as a server cloning its
//! stack per request does.
//!
//! `cargo bench -p ballast-bulkhead --bench metrics_cost [--features metrics]`

use ballast_bulkhead::adaptive::{AdaptiveConfig, AdaptiveLimiter};
use ballast_bulkhead::{Bulkhead, Config};
#[cfg(feature = "metrics")]
use ballast_test_support::metrics::Atomics;
use criterion::{Criterion, criterion_group, criterion_main};
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tower::{Layer, Service};

/// A service that answers at once.
#[derive(Clone, Copy)]
struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, n: u64) -> Self::Future {
        ready(Ok(n))
    }
}

fn fixed() -> ballast_bulkhead::FixedBulkhead<Echo> {
    let config = Config::builder()
        .name("bench")
        .max_concurrent_calls(64)
        .build()
        .expect("a valid config");
    Bulkhead::new(config).layer().layer(Echo)
}

fn adaptive() -> ballast_bulkhead::adaptive::Adaptive<Echo> {
    let config = AdaptiveConfig::builder()
        .name("bench")
        .build()
        .expect("a valid config");
    AdaptiveLimiter::new(config).layer().layer(Echo)
}

/// One call, answered on its first poll; the permit is given back when
/// the future is dropped.
fn call<S>(svc: &mut S, n: u64) -> u64
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let fut = pin!(svc.call(n));
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(n)) => n,
        other => unreachable!("answered on its first poll: {other:?}"),
    }
}

/// The rows of one group: no recorder (or no feature), then the atomic
/// recorder, each also through a clone per call.
fn rows<S>(c: &mut Criterion, group: &str, make: fn() -> S)
where
    S: Service<u64, Response = u64> + Clone,
    S::Error: std::fmt::Debug,
{
    let mut group = c.benchmark_group(group);
    if std::env::var_os("BALLAST_BENCH_QUICK").is_some() {
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_secs(1));
    }
    let mut quiet = make();
    let row = if cfg!(feature = "metrics") {
        "feature_on_no_recorder"
    } else {
        "feature_off"
    };
    group.bench_function(row, |b| b.iter(|| call(&mut quiet, black_box(7))));
    group.bench_function(format!("{row}_clone_per_call"), |b| {
        b.iter(|| call(&mut black_box(&quiet).clone(), black_box(7)))
    });
    #[cfg(feature = "metrics")]
    {
        let mut recorded = metrics::with_local_recorder(&Atomics, make);
        group.bench_function("feature_on_atomic_recorder", |b| {
            b.iter(|| call(&mut recorded, black_box(7)))
        });
        group.bench_function("feature_on_atomic_recorder_clone_per_call", |b| {
            b.iter(|| call(&mut black_box(&recorded).clone(), black_box(7)))
        });
    }
    group.finish();
}

fn fixed_call(c: &mut Criterion) {
    rows(c, "fixed_call", fixed);
}

fn adaptive_call(c: &mut Criterion) {
    rows(c, "adaptive_call", adaptive);
}

criterion_group!(benches, fixed_call, adaptive_call);
criterion_main!(benches);

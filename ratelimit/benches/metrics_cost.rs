//! What feature `metrics` costs per call: an admitted request of the
//! direct limiter (`direct_check`: `check()`), of the keyed limiter
//! (`keyed_check`: `check(&key)` of a key it holds) and through the
//! direct limiter's layer (`layer_call`: a call answered at once), the
//! limit never reached (10^9 a second), with the feature on, built with
//! no recorder installed (every handle a no-op: the cost of the feature
//! itself) and built under a recorder whose handles are atomic counters
//! (the cost of reporting: one counter bump per decision). Built without
//! the feature, each group has the row `feature_off`, the same path: run
//! it both ways and compare the rows. The layer's rows have a
//! `_clone_per_call` twin calling through a fresh clone of the service,
//! as a server cloning its stack per request does.
//!
//! `cargo bench -p ballast-ratelimit --bench metrics_cost [--features metrics]`

use ballast_ratelimit::{Config, KeyedRateLimiter, RateLimiter};
#[cfg(feature = "metrics")]
use ballast_test_support::metrics::Atomics;
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tower::{Layer, Service};

/// A limit no bench reaches: a cell a nanosecond.
fn config() -> Config {
    Config::builder()
        .name("bench")
        .rate(1_000_000_000, Duration::from_secs(1))
        .build()
        .expect("a valid config")
}

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

type Limited = ballast_ratelimit::RateLimit<Echo>;

fn service() -> Limited {
    RateLimiter::new(config()).layer().layer(Echo)
}

/// One call, answered on its first poll.
fn call(svc: &mut Limited, n: u64) -> u64 {
    let fut = pin!(svc.call(n));
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(n)) => n,
        _ => unreachable!("admitted and answered on its first poll"),
    }
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    if std::env::var_os("BALLAST_BENCH_QUICK").is_some() {
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_secs(1));
    }
    group
}

/// The row of the build without a recorder.
fn quiet_row() -> &'static str {
    if cfg!(feature = "metrics") {
        "feature_on_no_recorder"
    } else {
        "feature_off"
    }
}

fn direct_check(c: &mut Criterion) {
    let mut group = group(c, "direct_check");
    let quiet = RateLimiter::new(config());
    group.bench_function(quiet_row(), |b| {
        b.iter(|| black_box(&quiet).check().unwrap())
    });
    #[cfg(feature = "metrics")]
    {
        let recorded = metrics::with_local_recorder(&Atomics, || RateLimiter::new(config()));
        group.bench_function("feature_on_atomic_recorder", |b| {
            b.iter(|| black_box(&recorded).check().unwrap())
        });
    }
    group.finish();
}

fn keyed_check(c: &mut Criterion) {
    let mut group = group(c, "keyed_check");
    let quiet = KeyedRateLimiter::<u64>::new(config());
    group.bench_function(quiet_row(), |b| {
        b.iter(|| black_box(&quiet).check(&black_box(7)).unwrap())
    });
    #[cfg(feature = "metrics")]
    {
        let recorded =
            metrics::with_local_recorder(&Atomics, || KeyedRateLimiter::<u64>::new(config()));
        group.bench_function("feature_on_atomic_recorder", |b| {
            b.iter(|| black_box(&recorded).check(&black_box(7)).unwrap())
        });
    }
    group.finish();
}

fn layer_call(c: &mut Criterion) {
    let mut group = group(c, "layer_call");
    let row = quiet_row();
    let mut quiet = service();
    group.bench_function(row, |b| b.iter(|| call(&mut quiet, black_box(7))));
    group.bench_function(format!("{row}_clone_per_call"), |b| {
        b.iter(|| call(&mut black_box(&quiet).clone(), black_box(7)))
    });
    #[cfg(feature = "metrics")]
    {
        let mut recorded = metrics::with_local_recorder(&Atomics, service);
        group.bench_function("feature_on_atomic_recorder", |b| {
            b.iter(|| call(&mut recorded, black_box(7)))
        });
        group.bench_function("feature_on_atomic_recorder_clone_per_call", |b| {
            b.iter(|| call(&mut black_box(&recorded).clone(), black_box(7)))
        });
    }
    group.finish();
}

criterion_group!(benches, direct_check, keyed_check, layer_call);
criterion_main!(benches);

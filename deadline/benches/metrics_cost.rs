//! What feature `metrics` costs per call: a timeout layer's call with a
//! deadline to enforce (a 1 s timeout), answered at once, with the feature
//! on, built with no recorder installed (every handle a no-op: the cost of
//! the feature itself, which is the reference count of the layer's series
//! taken and dropped by each call) and built under a recorder whose
//! handles are atomic counters (the cost of reporting: one counter bump
//! per call). Built without the feature, the bench has the rows
//! `bounded_call/feature_off` (and its `_clone_per_call`), the same path:
//! run it both ways and compare the rows. Each row has a `_clone_per_call`
//! twin calling through a fresh clone of the service, as a server cloning
//! its stack per request does.
//!
//! `cargo bench -p ballast-deadline --bench metrics_cost [--features metrics]`

use ballast_deadline::{Config, TimeoutLayer};
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

type Bounded = ballast_deadline::Timeout<Echo>;

fn service() -> Bounded {
    let config = Config::with_timeout(Duration::from_secs(1)).expect("a valid timeout");
    TimeoutLayer::new(config).layer(Echo)
}

/// One call, answered on its first poll (so no timer is ever made).
fn call(svc: &mut Bounded, n: u64) -> u64 {
    let fut = pin!(svc.call(n));
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(n)) => n,
        _ => unreachable!("answered on its first poll"),
    }
}

fn bounded_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("bounded_call");
    if std::env::var_os("BALLAST_BENCH_QUICK").is_some() {
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_secs(1));
    }
    let mut quiet = service();
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
    let mut recorded = metrics::with_local_recorder(&Atomics, service);
    #[cfg(feature = "metrics")]
    group.bench_function("feature_on_atomic_recorder", |b| {
        b.iter(|| call(&mut recorded, black_box(7)))
    });
    #[cfg(feature = "metrics")]
    group.bench_function("feature_on_atomic_recorder_clone_per_call", |b| {
        b.iter(|| call(&mut black_box(&recorded).clone(), black_box(7)))
    });
    group.finish();
}

criterion_group!(benches, bounded_call);
criterion_main!(benches);

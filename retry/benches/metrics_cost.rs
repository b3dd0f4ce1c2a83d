//! What feature `metrics` costs per call: the retry helper's success path
//! (a call answered at once, no deadline) with the feature on, built with
//! no recorder installed (every handle a no-op: the cost of the feature
//! itself) and built under a recorder whose handles are atomic counters
//! (the cost of reporting: one counter bump per call). Built without the
//! feature, the bench has the rows `success_path/feature_off` (and its
//! `_clone_per_call`), the same path: run it both ways and compare the
//! rows. Each row has a `_clone_per_call` twin calling through a fresh
//! clone of the policy, as a server cloning its stack per request does.
//!
//! `cargo bench -p ballast-retry --bench metrics_cost [--features metrics]`

use ballast_retry::{Config, Policy, RetryErrors, retry};
#[cfg(feature = "metrics")]
use ballast_test_support::metrics::Atomics;
use criterion::{Criterion, criterion_group, criterion_main};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

fn policy() -> Policy<RetryErrors> {
    Policy::new(
        Config::builder().name("bench").build().unwrap(),
        RetryErrors,
    )
}

/// One call of the helper, answered at once: polled once, ready.
fn call(policy: &Policy<RetryErrors>) -> u32 {
    let fut = pin!(retry(policy, || std::future::ready(
        Ok::<_, std::io::Error>(1)
    )));
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(n)) => n,
        _ => unreachable!("answered on its first poll"),
    }
}

fn success_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("success_path");
    if std::env::var_os("BALLAST_BENCH_QUICK").is_some() {
        group.warm_up_time(std::time::Duration::from_millis(300));
        group.measurement_time(std::time::Duration::from_secs(1));
    }
    let quiet = policy();
    let row = if cfg!(feature = "metrics") {
        "feature_on_no_recorder"
    } else {
        "feature_off"
    };
    group.bench_function(row, |b| b.iter(|| call(black_box(&quiet))));
    // A fresh clone of the policy per call, as a server calling through a
    // clone of its stack per request does (what a clone costs, if the
    // feature made it dearer).
    group.bench_function(format!("{row}_clone_per_call"), |b| {
        b.iter(|| call(&black_box(&quiet).clone()))
    });
    #[cfg(feature = "metrics")]
    let recorded = metrics::with_local_recorder(&Atomics, policy);
    #[cfg(feature = "metrics")]
    group.bench_function("feature_on_atomic_recorder", |b| {
        b.iter(|| call(black_box(&recorded)))
    });
    #[cfg(feature = "metrics")]
    group.bench_function("feature_on_atomic_recorder_clone_per_call", |b| {
        b.iter(|| call(&black_box(&recorded).clone()))
    });
    group.finish();
}

criterion_group!(benches, success_path);
criterion_main!(benches);

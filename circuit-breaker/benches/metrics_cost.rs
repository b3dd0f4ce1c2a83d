//! What feature `metrics` costs per call: the closed breaker's
//! `try_acquire` + `success` with the feature on, built with no recorder
//! installed (every handle a no-op: the cost of the feature itself) and
//! built under a recorder whose handles are atomic counters (the cost of
//! reporting: one counter bump per call). Built without the feature, the
//! bench has one row, `closed_path/feature_off`, the same path: run it
//! both ways and compare the rows. `keyed_path` is the same call through
//! a keyed registry's breaker of a key it holds (the lookup included),
//! whose series are the registry's.
//!
//! `cargo bench -p ballast-circuit-breaker --bench metrics_cost [--features metrics]`

use ballast_circuit_breaker::keyed::{KeyedBreakers, KeyedSettings};
use ballast_circuit_breaker::{Breaker, Config};
#[cfg(feature = "metrics")]
use ballast_test_support::metrics::Atomics;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn config() -> Config {
    Config::builder().name("bench").build().unwrap()
}

fn closed_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("closed_path");
    if std::env::var_os("BALLAST_BENCH_QUICK").is_some() {
        group.warm_up_time(std::time::Duration::from_millis(300));
        group.measurement_time(std::time::Duration::from_secs(1));
    }
    let quiet = Breaker::new(config());
    let row = if cfg!(feature = "metrics") {
        "feature_on_no_recorder"
    } else {
        "feature_off"
    };
    group.bench_function(row, |b| {
        b.iter(|| black_box(&quiet).try_acquire().unwrap().success())
    });
    #[cfg(feature = "metrics")]
    let recorded = metrics::with_local_recorder(&Atomics, || Breaker::new(config()));
    #[cfg(feature = "metrics")]
    group.bench_function("feature_on_atomic_recorder", |b| {
        b.iter(|| black_box(&recorded).try_acquire().unwrap().success())
    });
    group.finish();
}

fn keyed_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("keyed_path");
    if std::env::var_os("BALLAST_BENCH_QUICK").is_some() {
        group.warm_up_time(std::time::Duration::from_millis(300));
        group.measurement_time(std::time::Duration::from_secs(1));
    }
    let registry = || KeyedBreakers::<u64>::new(config(), KeyedSettings::default());
    let quiet = registry();
    let row = if cfg!(feature = "metrics") {
        "feature_on_no_recorder"
    } else {
        "feature_off"
    };
    let call = |breakers: &KeyedBreakers<u64>| {
        breakers
            .breaker(&black_box(7))
            .try_acquire()
            .unwrap()
            .success()
    };
    group.bench_function(row, |b| b.iter(|| call(black_box(&quiet))));
    #[cfg(feature = "metrics")]
    {
        let recorded = metrics::with_local_recorder(&Atomics, registry);
        group.bench_function("feature_on_atomic_recorder", |b| {
            b.iter(|| call(black_box(&recorded)))
        });
    }
    group.finish();
}

criterion_group!(benches, closed_path, keyed_path);
criterion_main!(benches);

//! What a timeout costs a call that finishes in time: the ready path.
//!
//! One trivial service that answers at once, bare and behind each timeout,
//! called one call after another by one task on a current-thread runtime:
//! - `bare`: the service alone;
//! - `ballast`: ballast's `TimeoutLayer` with a 1 s timeout and no request
//!   deadline (so the inner call still runs inside a deadline scope);
//! - `tower`: `tower::timeout::TimeoutLayer` with 1 s.
//!
//! Run: `cargo bench -p ballast-benches --bench timeout_path`.
//! Read ratios to `bare` and between the two timeouts, not absolute times.

use ballast_bench::{Runtimes, configure, run_one_task};
use criterion::{Criterion, criterion_group, criterion_main};
use std::convert::Infallible;
use std::fmt::Debug;
use std::time::Duration;
use tower::{Service, ServiceBuilder, service_fn};

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

fn timeout_path(c: &mut Criterion) {
    let runtimes = Runtimes::new();
    let mut group = c.benchmark_group("timeout_path");
    configure(&mut group);
    run_one_task(&mut group, &runtimes.one, "bare", bare);
    run_one_task(&mut group, &runtimes.one, "ballast", ballast);
    run_one_task(&mut group, &runtimes.one, "tower", tower);
    group.finish();
}

criterion_group!(benches, timeout_path);
criterion_main!(benches);

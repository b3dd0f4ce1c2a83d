//! What the hedging layer costs a call answered before its delay: the
//! common path, where no backup is ever sent.
//!
//! One trivial service, bare and behind hedging, every call answered at
//! once (on its first poll), with `1_task` and `2_tasks` as in
//! `success_path` (per call per task; equal figures mean perfect scaling).
//!
//! The rows:
//! - `bare`: the `service_fn` alone;
//! - `fixed`: ballast's hedging with a fixed delay and its default budget
//!   (a count and a budget deposit per call, a copy of the request, a
//!   clone of the service; no clock read, no timer);
//! - `percentile`: the default config (a percentile delay): as `fixed`,
//!   plus two clock reads and one histogram add per call to measure it.
//!
//! tower's own `hedge` module is not a row: it needs `hdrhistogram`,
//! which the workspace does not carry.
//!
//! Run: `cargo bench -p ballast-retry --bench hedge_path`. Read the
//! difference to `bare`, not absolute times.

use ballast_bench::{Runtimes, configure, run};
use ballast_retry::{HedgeConfig, HedgeDelay, HedgePolicy};
use criterion::{Criterion, criterion_group, criterion_main};
use std::convert::Infallible;
use std::fmt::Debug;
use std::time::Duration;
use tower::{Service, ServiceBuilder, service_fn};

/// The service every row wraps: answers at once, never fails.
fn bare() -> impl Service<u64, Response = u64, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(|x: u64| async move { Ok::<_, Infallible>(x) })
}

fn hedged(
    config: HedgeConfig,
) -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    let policy = HedgePolicy::new(config);
    ServiceBuilder::new().layer(policy.layer()).service(bare())
}

fn fixed() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    let config = HedgeConfig::builder()
        .delay(HedgeDelay::Fixed(Duration::from_millis(10)))
        .build()
        .expect("a valid config");
    hedged(config)
}

fn percentile() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    hedged(HedgeConfig::default())
}

fn hedge_path(c: &mut Criterion) {
    let runtimes = Runtimes::new();
    let mut group = c.benchmark_group("hedge_path");
    configure(&mut group);
    run(&mut group, &runtimes, "bare", bare);
    run(&mut group, &runtimes, "fixed", fixed);
    run(&mut group, &runtimes, "percentile", percentile);
    group.finish();
}

criterion_group!(benches, hedge_path);
criterion_main!(benches);

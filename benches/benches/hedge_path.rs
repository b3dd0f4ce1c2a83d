//! What the hedging layer costs a call answered before its delay: the
//! common path, where no backup is ever sent.
//!
//! One trivial service, bare and behind hedging, every call answered
//! before the delay, with `1_task` and `2_tasks` as in `hot_paths` (per
//! call per task; equal figures mean perfect scaling).
//!
//! The rows:
//! - `bare`: the `service_fn` alone, answering on its first poll;
//! - `fixed`: ballast's hedging with a fixed delay and its default budget
//!   (a count and a budget deposit per call, a copy of the request, a
//!   clone of the service; no clock read, no timer);
//! - `percentile`: the default config (a percentile delay); a call
//!   answered on its first poll is not measured, so it costs as `fixed`;
//! - `yield_bare`, `yield_fixed`, `yield_percentile`: the same with a
//!   service that yields once before answering, as one waiting on the
//!   network is pending when first polled: hedging then reads the clock
//!   and arms its timer (and with a percentile delay reads the clock again
//!   and records the latency), and the answer comes before the delay.
//!
//! tower's own `hedge` module is not a row: it needs `hdrhistogram`,
//! which the workspace does not carry.
//!
//! Run: `cargo bench -p ballast-benches --bench hedge_path`. Read the
//! difference to `bare` (or `yield_bare`), not absolute times.

use ballast_bench::{Runtimes, configure, run};
use ballast_retry::{HedgeConfig, HedgeDelay, HedgePolicy};
use criterion::{Criterion, criterion_group, criterion_main};
use std::convert::Infallible;
use std::fmt::Debug;
use std::time::Duration;
use tower::{Service, ServiceBuilder, service_fn};

/// The service the first rows wrap: answers at once, never fails.
fn bare() -> impl Service<u64, Response = u64, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(|x: u64| async move { Ok::<_, Infallible>(x) })
}

/// The service the `yield_` rows wrap: pending on its first poll, then
/// answers.
fn yield_bare() -> impl Service<u64, Response = u64, Error = Infallible, Future: Send> + Clone + Send
{
    service_fn(|x: u64| async move {
        tokio::task::yield_now().await;
        Ok::<_, Infallible>(x)
    })
}

fn fixed_config() -> HedgeConfig {
    HedgeConfig::builder()
        .delay(HedgeDelay::Fixed(Duration::from_millis(10)))
        .build()
        .expect("a valid config")
}

fn fixed() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    let policy = HedgePolicy::new(fixed_config());
    ServiceBuilder::new().layer(policy.layer()).service(bare())
}

fn percentile() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    let policy = HedgePolicy::new(HedgeConfig::default());
    ServiceBuilder::new().layer(policy.layer()).service(bare())
}

fn yield_fixed() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    let policy = HedgePolicy::new(fixed_config());
    ServiceBuilder::new()
        .layer(policy.layer())
        .service(yield_bare())
}

fn yield_percentile() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send
{
    let policy = HedgePolicy::new(HedgeConfig::default());
    ServiceBuilder::new()
        .layer(policy.layer())
        .service(yield_bare())
}

fn hedge_path(c: &mut Criterion) {
    let runtimes = Runtimes::new();
    let mut group = c.benchmark_group("hedge_path");
    configure(&mut group);
    run(&mut group, &runtimes, "bare", bare);
    run(&mut group, &runtimes, "fixed", fixed);
    run(&mut group, &runtimes, "percentile", percentile);
    run(&mut group, &runtimes, "yield_bare", yield_bare);
    run(&mut group, &runtimes, "yield_fixed", yield_fixed);
    run(&mut group, &runtimes, "yield_percentile", yield_percentile);
    group.finish();
}

criterion_group!(benches, hedge_path);
criterion_main!(benches);

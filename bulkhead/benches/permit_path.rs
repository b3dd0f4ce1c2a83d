//! What a bulkhead costs a call that finds a free permit: the permit path.
//!
//! One trivial service, bare and behind each limiter, every call `Ok`:
//! - `1_task`: one service value on a current-thread runtime;
//! - `2_tasks`: two tasks on a 2-worker runtime, each with its own clone of
//!   the service (one shared limit), each making `iters` calls; the time
//!   is the wall time until both finish, so it is per call per task and
//!   reads like `1_task` (equal figures mean the limiter scales perfectly).
//!
//! Every limiter allows 1024 concurrent calls, so no call ever waits or is
//! refused:
//! - `ballast`: ballast's fixed bulkhead;
//! - `tower_concurrency_limit`: `tower::limit::ConcurrencyLimit`;
//! - `tower_resilience`: tower-resilience 0.13's bulkhead, as built by
//!   default (it waits for a permit when full);
//! - `ballast_partitioned`: ballast's partitioned bulkhead, two partitions
//!   of 512, every call in one of them (its own share, no borrowing);
//! - `ballast_load_shed`: ballast's load shedder, every call `Normal`
//!   (admitted below 80% of the limit);
//! - `adaptive_vegas`, `adaptive_aimd`: ballast's adaptive limiter with
//!   that algorithm, its limit pinned at 1024 (min = max), so every call
//!   is admitted, timed and recorded, and a window closes (running the
//!   algorithm) every 1024 calls. Each call reads tokio's clock twice;
//!   in this bench tokio is built with `test-util` (a dev-dependency of
//!   the crate's tests), under which every clock read takes the runtime
//!   clock's mutex, shared by both workers: the `2_tasks` adaptive rows
//!   pay for that, which a production build does not.
//!
//! The last four are for information: they have no peer to match.
//!
//! Run: `cargo bench -p ballast-bulkhead --bench permit_path`.
//! Read ratios to `bare`, not absolute times. `2_tasks` needs a core per
//! worker: if `2_tasks/bare` is about twice `1_task/bare`, something else
//! had a core (a busy machine) and the `2_tasks` figures are void; rerun.

use ballast_bench::{Runtimes, configure, run};
use criterion::{Criterion, criterion_group, criterion_main};
use std::convert::Infallible;
use std::fmt::Debug;
use tower::{Service, ServiceBuilder, service_fn};

const LIMIT: u32 = 1024;

/// The service every implementation wraps: answers at once, never fails.
fn bare() -> impl Service<u64, Response = u64, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(|x: u64| async move { Ok::<_, Infallible>(x) })
}

fn ballast() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_bulkhead::{Bulkhead, Config};
    let bulkhead = Bulkhead::new(
        Config::builder()
            .max_concurrent_calls(LIMIT)
            .build()
            .expect("valid config"),
    );
    ServiceBuilder::new()
        .layer(bulkhead.layer())
        .service(bare())
}

fn tower_limit() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    ServiceBuilder::new()
        .concurrency_limit(LIMIT as usize)
        .service(bare())
}

fn tower_resilience() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send
{
    use tower_resilience::bulkhead::BulkheadLayer;
    let layer = BulkheadLayer::builder()
        .max_concurrent_calls(LIMIT as usize)
        .build()
        .expect("valid config");
    ServiceBuilder::new().layer(layer).service(bare())
}

fn ballast_partitioned()
-> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_bulkhead::partitioned::{PartitionedBulkhead, PartitionedConfig};
    let bulkhead = PartitionedBulkhead::new(
        PartitionedConfig::builder()
            .max_concurrent_calls(LIMIT)
            .partition("a", LIMIT / 2)
            .build()
            .expect("valid config"),
    );
    let a = bulkhead.partition("a");
    ServiceBuilder::new()
        .layer(bulkhead.layer(move |_: &u64| a))
        .service(bare())
}

fn ballast_load_shed()
-> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_bulkhead::shed::{LoadShedder, Priority, ShedConfig};
    let shedder = LoadShedder::new(
        ShedConfig::builder()
            .max_in_flight(LIMIT)
            .build()
            .expect("valid config"),
    );
    ServiceBuilder::new()
        .layer(shedder.layer(|_: &u64| Priority::Normal))
        .service(bare())
}

fn adaptive(
    algorithm: ballast_bulkhead::adaptive::Algorithm,
) -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_bulkhead::adaptive::{AdaptiveConfig, AdaptiveLimiter};
    let limiter = AdaptiveLimiter::new(
        AdaptiveConfig::builder()
            .initial_limit(LIMIT)
            .min_limit(LIMIT)
            .max_limit(LIMIT)
            .algorithm(algorithm)
            .build()
            .expect("valid config"),
    );
    ServiceBuilder::new().layer(limiter.layer()).service(bare())
}

fn adaptive_vegas() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send
{
    adaptive(ballast_bulkhead::adaptive::Vegas::default().into())
}

fn adaptive_aimd() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    adaptive(ballast_bulkhead::adaptive::Aimd::default().into())
}

fn permit_path(c: &mut Criterion) {
    let runtimes = Runtimes::new();
    let mut group = c.benchmark_group("permit_path");
    configure(&mut group);
    run(&mut group, &runtimes, "bare", bare);
    run(&mut group, &runtimes, "ballast", ballast);
    run(
        &mut group,
        &runtimes,
        "tower_concurrency_limit",
        tower_limit,
    );
    run(&mut group, &runtimes, "tower_resilience", tower_resilience);
    run(
        &mut group,
        &runtimes,
        "ballast_partitioned",
        ballast_partitioned,
    );
    run(
        &mut group,
        &runtimes,
        "ballast_load_shed",
        ballast_load_shed,
    );
    run(&mut group, &runtimes, "adaptive_vegas", adaptive_vegas);
    run(&mut group, &runtimes, "adaptive_aimd", adaptive_aimd);
    group.finish();
}

criterion_group!(benches, permit_path);
criterion_main!(benches);

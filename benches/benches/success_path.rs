//! What a retry layer costs a call that succeeds at once: the success path.
//!
//! One trivial service, bare and behind each retry layer, every call `Ok`:
//! - `1_task`: one service value on a current-thread runtime;
//! - `2_tasks`: two tasks on a 2-worker runtime, each with its own clone of
//!   the service (one shared policy and budget), each making `iters`
//!   calls; the time is the wall time until both finish, so it is per call
//!   per task and reads like `1_task` (equal figures mean the layer scales
//!   perfectly).
//!
//! The rows:
//! - `bare`: the `service_fn` alone;
//! - `ballast_policy`: ballast's retry with `Config::default()` (budget on: 20%
//!   plus 10 a second) and the `RetryErrors` classifier, as a `Policy`
//!   (each call holds a clone of an `Arc`);
//! - `ballast_named`: the same settings as a process-lifetime policy,
//!   `StaticPolicy::named` (the form for a dependency the process calls
//!   as long as it runs), whose calls hold a `&'static` instead;
//! - `tower`: `tower::retry::Retry` with a minimal policy that copies the
//!   request (as ours does) and never retries;
//! - `tower_resilience`: tower-resilience 0.13's retry layer with its
//!   defaults (3 attempts, exponential backoff, no budget).
//!
//! Run: `cargo bench -p ballast-benches --bench success_path` (a package
//! of its own, so tokio is built without `test-util`: see its lib.rs). Read the
//! difference to `bare`, not absolute times. `2_tasks` needs a core per
//! worker: if `2_tasks/bare` is about twice `1_task/bare`, something else
//! had a core (a busy machine) and the `2_tasks` figures are void; rerun.

use ballast_bench::{Runtimes, configure, run};
use criterion::{Criterion, criterion_group, criterion_main};
use std::convert::Infallible;
use std::fmt::Debug;
use std::future::{Ready, ready};
use std::hint::black_box;
use tower::{Service, ServiceBuilder, service_fn};

/// The service every implementation wraps: answers at once, never fails.
fn bare() -> impl Service<u64, Response = u64, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(|x: u64| async move { Ok::<_, Infallible>(x) })
}

fn ballast_policy() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send
{
    use ballast_retry::{Config, Policy, RetryErrors};
    let policy = Policy::new(Config::default(), RetryErrors);
    ServiceBuilder::new().layer(policy.layer()).service(bare())
}

fn ballast_named() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    use ballast_retry::{Config, RetryErrors, StaticPolicy};
    // One policy for the whole run, however often the row is set up.
    let policy = StaticPolicy::named("success_path", Config::default(), RetryErrors)
        .expect("one config under this name");
    ServiceBuilder::new().layer(policy.layer()).service(bare())
}

fn tower() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send {
    ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(NeverRetry))
        .service(bare())
}

fn tower_resilience() -> impl Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send
{
    use tower_resilience::retry::RetryLayer;
    let layer = RetryLayer::<u64, u64, Infallible>::builder().build();
    ServiceBuilder::new().layer(layer).service(bare())
}

/// The least a `tower::retry::Policy` can be: copies the request, never
/// retries.
#[derive(Clone, Copy)]
struct NeverRetry;

impl<E> tower::retry::Policy<u64, u64, E> for NeverRetry {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut u64, _: &mut Result<u64, E>) -> Option<Self::Future> {
        black_box(Some(ready(()))).filter(|_| false)
    }

    fn clone_request(&mut self, req: &u64) -> Option<u64> {
        Some(*req)
    }
}

fn success_path(c: &mut Criterion) {
    let runtimes = Runtimes::new();
    let mut group = c.benchmark_group("success_path");
    configure(&mut group);
    run(&mut group, &runtimes, "bare", bare);
    run(&mut group, &runtimes, "ballast_policy", ballast_policy);
    run(&mut group, &runtimes, "ballast_named", ballast_named);
    run(&mut group, &runtimes, "tower", tower);
    run(&mut group, &runtimes, "tower_resilience", tower_resilience);
    group.finish();
}

criterion_group!(benches, success_path);
criterion_main!(benches);

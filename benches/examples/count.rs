//! Calls one hot path `n` times and exits: for counting instructions per
//! call under `valgrind --tool=callgrind`, which is exact and stable on a
//! loaded machine where wall times are not. Run it twice with different
//! `n` and divide the difference in instructions by the difference in
//! calls, so setup cancels out:
//!
//! ```text
//! cargo build --release -p ballast-benches --example count
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     --toggle-collect='once_cell::imp::initialize_or_wait*' --collect-atstart=yes \
//!     target/release/examples/count retry reused 100000
//! ```
//!
//! The two `collect` options (in that order) leave out quanta's
//! calibration of the TSC clock (the first read of the clock ballast and
//! governor use), which runs for a stretch of wall time, not a fixed
//! number of instructions: counted, it adds tens of instructions a call of
//! noise to the difference, either way.
//!
//! Rows: `bare`, `retry`, `tower_retry`, `breaker`, `recloser`, `keyed_breaker`
//! (service rows, mode `reused` or `clone`, one task), `keyed` (the
//! default hasher), `keyed_siphash` (std's `RandomState`) and
//! `governor_keyed` (keyed rate-limit checks over 10,000 keys; the mode
//! is ignored), `direct` and `governor_direct` (direct checks, the limiter
//! reused or cloned per check).

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

type Bare = tower::util::ServiceFn<fn(u64) -> Ready<Result<u64, Infallible>>>;

fn bare() -> Bare {
    service_fn(|x: u64| ready(Ok::<_, Infallible>(x)))
}

async fn calls<S>(mut svc: S, clone: bool, n: u64)
where
    S: Service<u64, Response = u64, Error: std::fmt::Debug> + Clone,
{
    for i in 0..n {
        let out = if clone {
            svc.clone().oneshot(black_box(i)).await
        } else {
            svc.ready().await.expect("ready");
            svc.call(black_box(i)).await
        };
        black_box(out.expect("always succeeds"));
    }
}

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

const KEYS: u64 = 10_000;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("not zero")
}

fn keyed(hasher: impl std::hash::BuildHasher, n: u64) {
    let quota = ballast_ratelimit::Quota::per_second(nz(1_000_000_000)).allow_burst(nz(1 << 30));
    let config = ballast_ratelimit::Config::builder().quota(quota).build();
    let limiter =
        ballast_ratelimit::KeyedRateLimiter::<u64, _>::with_hasher(config.expect("valid"), hasher);
    for i in 0..n {
        assert!(black_box(limiter.check(&(black_box(i) % KEYS)).is_ok()));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (row, mode) = (args[1].as_str(), args[2].as_str());
    let n: u64 = args[3].parse().expect("a count");
    let clone = mode == "clone";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    match row {
        "bare" => rt.block_on(calls(bare(), clone, n)),
        "retry" => {
            use ballast_retry::{Config, Policy, RetryErrors};
            let policy = Policy::new(Config::default(), RetryErrors);
            let svc = ServiceBuilder::new().layer(policy.layer()).service(bare());
            rt.block_on(calls(svc, clone, n))
        }
        "tower_retry" => {
            let svc = ServiceBuilder::new()
                .layer(tower::retry::RetryLayer::new(NeverRetry))
                .service(bare());
            rt.block_on(calls(svc, clone, n))
        }
        "breaker" => {
            let breaker = ballast_circuit_breaker::Breaker::new(Default::default());
            let svc = ServiceBuilder::new().layer(breaker.layer()).service(bare());
            rt.block_on(calls(svc, clone, n))
        }
        "recloser" => {
            let svc = ballast_bench::peers::Recloser::new(bare());
            rt.block_on(calls(svc, clone, n))
        }
        "keyed_breaker" => {
            use ballast_circuit_breaker::keyed::{KeyedBreakers, KeyedSettings};
            let breakers = KeyedBreakers::<u64>::new(Default::default(), KeyedSettings::default());
            let key: fn(&u64) -> u64 = |req| req % 100;
            let svc = ServiceBuilder::new()
                .layer(breakers.layer(key))
                .service(bare());
            rt.block_on(calls(svc, clone, n))
        }
        "keyed" => keyed(ballast_ratelimit::DefaultHashBuilder::default(), n),
        "keyed_siphash" => keyed(std::hash::RandomState::new(), n),
        "direct" => {
            let quota =
                ballast_ratelimit::Quota::per_second(nz(1_000_000_000)).allow_burst(nz(1 << 30));
            let config = ballast_ratelimit::Config::builder().quota(quota).build();
            let limiter = ballast_ratelimit::RateLimiter::new(config.expect("valid"));
            for _ in 0..n {
                let ok = if clone {
                    limiter.clone().check().is_ok()
                } else {
                    limiter.check().is_ok()
                };
                assert!(black_box(ok));
            }
        }
        "governor_direct" => {
            let quota = governor::Quota::per_second(nz(1_000_000_000)).allow_burst(nz(1 << 30));
            let gov = Arc::new(governor::RateLimiter::direct(quota));
            for _ in 0..n {
                let ok = if clone {
                    Arc::clone(&gov).check().is_ok()
                } else {
                    gov.check().is_ok()
                };
                assert!(black_box(ok));
            }
        }
        "governor_keyed" => {
            let quota = governor::Quota::per_second(nz(1_000_000_000)).allow_burst(nz(1 << 30));
            let gov = Arc::new(governor::RateLimiter::<u64, _, _, _>::keyed(quota));
            for i in 0..n {
                assert!(black_box(gov.check_key(&(black_box(i) % KEYS)).is_ok()));
            }
        }
        other => panic!("no row {other}"),
    }
}

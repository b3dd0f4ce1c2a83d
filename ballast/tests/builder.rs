//! The facade's one `ServiceBuilderExt`: its methods sit beside tower's own
//! (`timeout`, `rate_limit`, `concurrency_limit`, `load_shed`, with every
//! tower feature on) and beside another crate's trait of the same name
//! under glob imports, and each layers a handle to the policy it is given
//! (shared, not copied).

use ballast::prelude::*;
use ballast::{bulkhead, circuit_breaker, ratelimit, retry};
use std::time::Duration;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// Stands for tower-http's `ServiceBuilderExt`: a second trait of that
/// name, glob-imported beside the prelude.
mod other_ext {
    pub trait ServiceBuilderExt<L>: Sized {
        fn compression(self) -> Self {
            self
        }
    }
    impl<L> ServiceBuilderExt<L> for tower::ServiceBuilder<L> {}
}
use other_ext::*;

/// Names `ServiceBuilderExt` under both globs: it resolves to the other
/// crate's trait, since the prelude brings ballast's in unnamed.
fn takes_the_other_trait<B: ServiceBuilderExt<tower::layer::util::Identity>>(b: B) -> B {
    b.compression()
}

#[tokio::test(start_paused = true)]
async fn ballast_methods_sit_beside_towers_own_under_glob_imports() -> Result<(), BoxError> {
    let breaker = Breaker::new(circuit_breaker::Config::builder().name("stock").build()?);
    let permits = Bulkhead::new(
        bulkhead::Config::builder()
            .max_concurrent_calls(4)
            .build()?,
    );
    let limiter = RateLimiter::new(
        ratelimit::Config::builder()
            .rate(100, Duration::from_secs(1))
            .build()?,
    );
    let policy = retry::Policy::new(retry::Config::default(), retry::RetryErrors);
    let client = takes_the_other_trait(ServiceBuilder::new())
        .timeout(Duration::from_secs(5))
        .concurrency_limit(10)
        .load_shed()
        .rate_limit(1000, Duration::from_secs(1))
        .with_retry_policy(&policy)
        .with_circuit_breaker(&breaker)
        .with_rate_limiter(&limiter)
        .with_bulkhead(&permits)
        .service(service_fn(|n: u32| async move {
            Ok::<_, std::io::Error>(n + 1)
        }));
    let mut client = client;
    assert_eq!(client.ready().await?.call(1).await?, 2);
    assert_eq!(client.ready().await?.call(2).await?, 3);
    // The layers hold handles to the policies given, not copies.
    assert_eq!(breaker.metrics().calls, 2);
    assert_eq!(limiter.metrics().admitted, 2);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn keyed_rate_limiter_refuses_per_key_with_the_family_rejection() -> Result<(), BoxError> {
    let per_user = KeyedRateLimiter::new(
        ratelimit::Config::builder()
            .rate(1, Duration::from_secs(1))
            .build()?,
    );
    let svc = ServiceBuilder::new()
        .with_keyed_rate_limiter(&per_user, |(user, _): &(u64, u32)| *user)
        .service(service_fn(|(_, n): (u64, u32)| async move {
            Ok::<_, std::io::Error>(n)
        }));
    assert_eq!(svc.clone().oneshot((1, 10)).await?, 10);
    let err = svc.clone().oneshot((1, 11)).await.unwrap_err();
    assert_eq!(
        Rejected::find(&err).map(Rejected::reason),
        Some(Reason::RateLimited)
    );
    assert_eq!(svc.oneshot((2, 12)).await?, 12);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn load_shedder_sheds_low_priority_first() -> Result<(), BoxError> {
    let shedder = LoadShedder::new(
        bulkhead::shed::ShedConfig::builder()
            .max_in_flight(10)
            .build()?,
    );
    let svc = ServiceBuilder::new()
        .with_load_shedder(&shedder, |req: &(Priority, u32)| req.0)
        .service(service_fn(|(_, n): (Priority, u32)| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, std::io::Error>(n)
        }));
    let running: Vec<_> = (0..6)
        .map(|i| tokio::spawn(svc.clone().oneshot((Priority::Normal, i))))
        .collect();
    tokio::task::yield_now().await;
    let err = svc.clone().oneshot((Priority::Low, 6)).await.unwrap_err();
    assert_eq!(
        Rejected::find(&err).map(Rejected::reason),
        Some(Reason::Overloaded)
    );
    for r in running {
        r.await??;
    }
    Ok(())
}

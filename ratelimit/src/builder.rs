//! [`ServiceBuilderExt`]: `.rate_limiter(&limiter)` and
//! `.keyed_rate_limiter(&limiter, key_fn)` on tower's `ServiceBuilder`.

use crate::keyed::KeyedRateLimiter;
use crate::layer::{KeyedBy, RateLimitLayer};
use crate::limiter::RateLimiter;
use tower::ServiceBuilder;
use tower::layer::util::Stack;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds ballast's rate limits to tower's `ServiceBuilder`.
///
/// Each method takes the limiter by reference and layers a handle to it,
/// so every service built shares the one limit (and its metrics).
///
/// The methods are named `rate_limiter`, not `rate_limit`: tower's
/// `ServiceBuilder` has an inherent `rate_limit(num, per)` (feature
/// `limit`), and an inherent method always wins over a trait's, so a trait
/// method of that name could not be called wherever tower's `limit`
/// feature is on.
///
/// ```
/// use ballast_ratelimit::{Config, KeyedRateLimiter, RateLimiter, ServiceBuilderExt};
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), ballast_ratelimit::BoxError> {
/// // 100 a second in all, and 1 a second per user.
/// let shared = RateLimiter::new(Config::builder().rate(100, Duration::from_secs(1)).build()?);
/// let per_user = KeyedRateLimiter::new(Config::builder().rate(1, Duration::from_secs(1)).build()?);
/// let svc = ServiceBuilder::new()
///     .keyed_rate_limiter(&per_user, |(user, _): &(u64, &'static str)| *user)
///     .rate_limiter(&shared)
///     .service(service_fn(|(_, msg): (u64, &'static str)| async move {
///         Ok::<_, std::io::Error>(msg)
///     }));
/// assert_eq!(svc.clone().oneshot((1, "hi")).await?, "hi");
/// assert!(svc.clone().oneshot((1, "again")).await.is_err());
/// assert_eq!(svc.clone().oneshot((2, "hi")).await?, "hi");
/// assert_eq!(shared.metrics().admitted, 2);
/// # Ok(()) }
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Puts the services built next behind `limiter` (shared, not copied).
    fn rate_limiter(self, limiter: &RateLimiter) -> ServiceBuilder<Stack<RateLimitLayer, L>>;

    /// Puts the services built next behind `limiter`, one limit per key
    /// that `key_fn` picks from each request.
    fn keyed_rate_limiter<K, F>(
        self,
        limiter: &KeyedRateLimiter<K>,
        key_fn: F,
    ) -> ServiceBuilder<Stack<RateLimitLayer<KeyedBy<K, F>>, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn rate_limiter(self, limiter: &RateLimiter) -> ServiceBuilder<Stack<RateLimitLayer, L>> {
        self.layer(limiter.layer())
    }

    fn keyed_rate_limiter<K, F>(
        self,
        limiter: &KeyedRateLimiter<K>,
        key_fn: F,
    ) -> ServiceBuilder<Stack<RateLimitLayer<KeyedBy<K, F>>, L>> {
        self.layer(RateLimitLayer::keyed(limiter.clone(), key_fn))
    }
}

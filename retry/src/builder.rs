//! [`ServiceBuilderExt`]: `.ballast_retry(&policy)` on tower's `ServiceBuilder`.

use crate::layer::RetryLayer;
use crate::policy::Policy;
use tower::ServiceBuilder;
use tower::layer::util::Stack;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds ballast's retry to tower's `ServiceBuilder`.
///
/// The method is `ballast_retry`, not `retry`: tower's own
/// `ServiceBuilder::retry` (feature `retry` of tower) is an inherent
/// method and would always be picked over a trait's.
///
/// ```
/// use ballast_retry::{Config, Policy, RetryErrors, ServiceBuilderExt};
/// use tower::{ServiceBuilder, service_fn};
///
/// let policy = Policy::new(Config::default(), RetryErrors);
/// let svc = ServiceBuilder::new()
///     .ballast_retry(&policy)
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
/// # let _ = svc;
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Retries the calls of the services built next under `policy`
    /// (shared, not copied: they draw on its budget and add to its
    /// counts). For a request cloner or a deadline source of one's own,
    /// use `.layer(policy.layer().clone_requests_with(..))`.
    fn ballast_retry<C>(self, policy: &Policy<C>) -> ServiceBuilder<Stack<RetryLayer<C>, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn ballast_retry<C>(self, policy: &Policy<C>) -> ServiceBuilder<Stack<RetryLayer<C>, L>> {
        self.layer(policy.layer())
    }
}

//! [`ServiceBuilderExt`]: `.ballast_retry(&policy)` and
//! `.ballast_hedge(&hedge_policy)` on tower's `ServiceBuilder`.

use crate::classify::CloneRequests;
use crate::hedge::{HedgeLayer, HedgePolicy};
use crate::layer::RetryLayer;
use crate::policy::Policy;
use crate::static_policy::StaticPolicy;
use ballast_deadline::TaskLocal;
use tower::ServiceBuilder;
use tower::layer::util::Stack;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds ballast's retry and hedging to tower's `ServiceBuilder`.
///
/// The methods are `ballast_retry` and `ballast_hedge`, not `retry`:
/// tower's own `ServiceBuilder::retry` (feature `retry` of tower) is an
/// inherent method and would always be picked over a trait's.
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
    /// Retries the calls of the services built next under `policy`, a
    /// [`Policy`] or a [`StaticPolicy`] (shared, not copied: they draw on
    /// its budget and add to its counts). For a request cloner or a deadline source of one's own,
    /// use `.layer(policy.layer().clone_requests_with(..))`.
    fn ballast_retry<P: AsRetryLayer>(self, policy: &P) -> ServiceBuilder<Stack<P::Layer, L>>;

    /// Hedges the calls of the services built next under `policy`
    /// (shared, not copied: they draw on its hedge budget, feed its
    /// latencies and add to its counts). For a request cloner or a
    /// deadline source of one's own, use
    /// `.layer(policy.layer().clone_requests_with(..))`.
    ///
    /// ```
    /// use ballast_retry::{HedgeConfig, HedgeDelay, HedgePolicy, ServiceBuilderExt};
    /// use std::time::Duration;
    /// use tower::{ServiceBuilder, service_fn};
    ///
    /// let config = HedgeConfig::builder()
    ///     .delay(HedgeDelay::Fixed(Duration::from_millis(50)))
    ///     .build()?;
    /// let hedge_policy = HedgePolicy::new(config);
    /// let svc = ServiceBuilder::new()
    ///     .ballast_hedge(&hedge_policy)
    ///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
    /// # let _ = svc;
    /// # Ok::<(), ballast_retry::ConfigError>(())
    /// ```
    fn ballast_hedge(self, policy: &HedgePolicy) -> ServiceBuilder<Stack<HedgeLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn ballast_retry<P: AsRetryLayer>(self, policy: &P) -> ServiceBuilder<Stack<P::Layer, L>> {
        self.layer(policy.retry_layer())
    }

    fn ballast_hedge(self, policy: &HedgePolicy) -> ServiceBuilder<Stack<HedgeLayer, L>> {
        self.layer(policy.layer())
    }
}

/// A retry policy that makes its own tower layer: a [`Policy`] or a
/// [`StaticPolicy`], for [`ServiceBuilderExt::ballast_retry`].
pub trait AsRetryLayer {
    /// The layer: a [`RetryLayer`] holding the policy as its kind does.
    type Layer;

    /// The policy's layer, as its `layer()` method makes it.
    fn retry_layer(&self) -> Self::Layer;
}

impl<C> AsRetryLayer for Policy<C> {
    type Layer = RetryLayer<C>;

    fn retry_layer(&self) -> Self::Layer {
        self.layer()
    }
}

impl<C> AsRetryLayer for StaticPolicy<C> {
    type Layer = RetryLayer<C, CloneRequests, TaskLocal, StaticPolicy<C>>;

    fn retry_layer(&self) -> Self::Layer {
        self.layer()
    }
}

//! [`StaticPolicy`]: a policy that lives as long as the process, whose
//! calls skip the reference count.

use crate::budget::RetryBudget;
use crate::config::Config;
use crate::layer::RetryLayer;
use crate::metrics::Metrics;
use crate::policy::{Policy, Shared};
use ballast_deadline::TaskLocal;
use std::fmt;
use std::sync::Arc;

/// A retry policy that lives as long as the process: its layer's calls
/// hold a plain `&'static` reference to the policy instead of a clone of
/// an `Arc`, which saves every call the two locked read-modify-writes of
/// that `Arc`'s count (several nanoseconds on the success path; see the
/// crate's "Cost" section). Made by [`StaticPolicy::named`] (one per
/// name, however often asked for: the usual way) or [`Policy::leak`].
///
/// It behaves like the `Policy` it came from in every other way: the same
/// settings, budget and counts (clones of that `Policy` keep seeing them),
/// the same retries. `StaticPolicy` is `Copy`.
pub struct StaticPolicy<C: 'static> {
    pub(crate) shared: &'static Shared<C>,
}

impl<C: 'static> Policy<C> {
    /// Makes this policy live as long as the process and returns a handle
    /// whose layer's calls skip the `Arc` reference count (see
    /// [`StaticPolicy`]).
    ///
    /// The policy's memory is never freed: call this once per policy, at
    /// startup, for a policy the process keeps to the end; never per
    /// request or per connection, where each call would leak a policy.
    /// Built on [`Box::leak`].
    ///
    /// ```
    /// use ballast_retry::{Config, Policy, RetryErrors, StaticPolicy};
    /// use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), ballast_retry::BoxError> {
    /// // Once, at startup.
    /// let policy: StaticPolicy<RetryErrors> = Policy::new(Config::default(), RetryErrors).leak();
    ///
    /// let service = service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x + 1) });
    /// let mut client = ServiceBuilder::new().layer(policy.layer()).service(service);
    /// assert_eq!(client.ready().await?.call(1).await?, 2);
    /// assert_eq!(policy.metrics().calls, 1);
    /// # Ok(()) }
    /// ```
    pub fn leak(self) -> StaticPolicy<C> {
        let shared: &'static Arc<Shared<C>> = Box::leak(Box::new(self.shared));
        StaticPolicy { shared }
    }
}

impl<C> StaticPolicy<C> {
    /// The name it was made under by [`StaticPolicy::named`]; `None` for a
    /// policy made by [`Policy::leak`].
    pub fn name(&self) -> Option<&'static str> {
        self.shared.name.as_deref()
    }

    /// The settings.
    pub fn config(&self) -> &'static Config {
        &self.shared.config
    }

    /// The budget retries draw from.
    pub fn budget(&self) -> &'static RetryBudget {
        &self.shared.budget
    }

    /// What the policy has done so far (including what the `Policy` it
    /// came from did).
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// A tower layer applying this policy; every service it wraps shares
    /// the budget and the counts, and its calls hold the policy by a plain
    /// reference.
    pub fn layer(&self) -> RetryLayer<C, crate::CloneRequests, TaskLocal, StaticPolicy<C>> {
        RetryLayer::with_policy(*self)
    }
}

impl<C> Clone for StaticPolicy<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for StaticPolicy<C> {}

/// Two handles are equal when they are the same policy (the same budget
/// and counts), as two [`StaticPolicy::named`] calls with one name give.
impl<C> PartialEq for StaticPolicy<C> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.shared, other.shared)
    }
}

impl<C> Eq for StaticPolicy<C> {}

impl<C> fmt::Debug for StaticPolicy<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

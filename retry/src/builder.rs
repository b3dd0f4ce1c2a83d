//! [`AsRetryLayer`]: a retry policy that makes its own tower layer, for
//! the facade's `ServiceBuilderExt::with_retry_policy` (crate `ballast`).

use crate::layer::RetryLayer;
use crate::policy::Policy;

/// A retry policy that makes its own tower layer: a [`Policy`]. The
/// `ballast` facade's `.with_retry_policy(&policy)`
/// takes either through this trait; without the facade, write
/// `.layer(policy.layer())`.
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

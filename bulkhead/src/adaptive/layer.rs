//! [`AdaptiveLayer`]: the tower layer.

use super::handle::AdaptiveLimiter;
use super::service::Adaptive;
use tower_layer::Layer;

/// Puts services behind an [`AdaptiveLimiter`]; every service it makes
/// shares it.
#[derive(Debug, Clone)]
pub struct AdaptiveLayer {
    limiter: AdaptiveLimiter,
}

impl AdaptiveLayer {
    /// A layer for `limiter`.
    pub fn new(limiter: AdaptiveLimiter) -> Self {
        Self { limiter }
    }
}

impl<S> Layer<S> for AdaptiveLayer {
    type Service = Adaptive<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Adaptive::new(inner, self.limiter.clone())
    }
}

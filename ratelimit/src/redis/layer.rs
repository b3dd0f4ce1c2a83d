//! [`RedisRateLimitLayer`]: the tower layer for the Redis limiter.

use super::limiter::RedisRateLimiter;
use super::service::RedisRateLimit;
use std::fmt;
use tower_layer::Layer;

/// Applies a [`RedisRateLimiter`] to a service, one limit per key that
/// `key_fn` picks from each request (client id, IP, tenant; return the
/// same string for every request to share one limit).
///
/// The layer and its services are `Clone`, and every clone shares the
/// limiter. Build one with [`RedisRateLimiter::layer`].
#[derive(Clone)]
pub struct RedisRateLimitLayer<F> {
    limiter: RedisRateLimiter,
    key_fn: F,
}

impl<F> RedisRateLimitLayer<F> {
    /// A layer limiting each request by the key `key_fn` returns for it.
    pub fn new(limiter: RedisRateLimiter, key_fn: F) -> Self {
        Self { limiter, key_fn }
    }
}

impl<F> fmt::Debug for RedisRateLimitLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimitLayer")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<S, F: Clone> Layer<S> for RedisRateLimitLayer<F> {
    type Service = RedisRateLimit<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        RedisRateLimit::new(inner, self.limiter.clone(), self.key_fn.clone())
    }
}

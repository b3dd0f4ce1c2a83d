//! [`RedisRateLimit`]: the tower service for the Redis limiter.

use super::future::ResponseFuture;
use super::limiter::RedisRateLimiter;
use crate::service::BoxError;
use std::fmt;
use std::task::{Context, Poll};
use tower_service::Service;

/// A service behind a limit shared through Redis; clones share it.
///
/// The check happens in `call` (only `call` sees the request and its key)
/// and takes a round trip to Redis, so the request waits in the
/// [`ResponseFuture`] with the inner service that was polled ready (a
/// clone takes its place here), as `tower::buffer` does: the inner service
/// is `Clone`. A refused request returns a boxed
/// [`Rejected`](crate::Rejected) with [`Reason::RateLimited`](crate::Reason)
/// and the exact retry-after.
#[derive(Clone)]
pub struct RedisRateLimit<S, F> {
    inner: S,
    limiter: RedisRateLimiter,
    key_fn: F,
}

impl<S, F> RedisRateLimit<S, F> {
    pub(crate) fn new(inner: S, limiter: RedisRateLimiter, key_fn: F) -> Self {
        Self {
            inner,
            limiter,
            key_fn,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug, F> fmt::Debug for RedisRateLimit<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<S, F, K, Req> Service<Req> for RedisRateLimit<S, F>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    F: Fn(&Req) -> K,
    K: AsRef<str> + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = (self.key_fn)(&req);
        let limiter = self.limiter.clone();
        // Boxed: the check is an async fn, whose future type has no name.
        // One allocation beside a network round trip.
        let check = Box::pin(async move { limiter.check(key.as_ref()).await });
        let fresh = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, fresh);
        ResponseFuture::new(check, ready, req)
    }
}

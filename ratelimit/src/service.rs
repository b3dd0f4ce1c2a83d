//! [`RateLimit`]: the tower service.

use crate::future::ResponseFuture;
use crate::layer::Policy;
use crate::limiter::{Decision, RateLimiter};
use std::task::{Context, Poll};
use tower_service::Service;

pub use ballast_core::BoxError;

/// A service behind a rate limit; clones share the limit.
///
/// The cells are taken in `call`, not `poll_ready`: only `call` sees the
/// request (a keyed limit needs its key), and a cell taken in `poll_ready`
/// by a clone that is then never called could not be given back (a GCRA
/// cannot return time), starving other callers. `poll_ready` only asks
/// the inner service.
///
/// In wait mode a request that must wait keeps the inner service that was
/// polled ready (a clone takes its place here) and calls it when its cells
/// are due, so the inner service is `Clone` (as for `tower::buffer`).
#[derive(Debug, Clone)]
pub struct RateLimit<S, P = RateLimiter> {
    inner: S,
    policy: P,
}

impl<S, P> RateLimit<S, P> {
    pub(crate) fn new(inner: S, policy: P) -> Self {
        Self { inner, policy }
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

impl<S, P, Req> Service<Req> for RateLimit<S, P>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    P: Policy<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.policy.decide(&req, 0) {
            Decision::Go => ResponseFuture::called(self.inner.call(req)),
            Decision::Reject(rejected) => ResponseFuture::rejected(rejected),
            decision => {
                let fresh = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, fresh);
                ResponseFuture::waiting(decision, ready, req, self.policy.clone())
            }
        }
    }
}

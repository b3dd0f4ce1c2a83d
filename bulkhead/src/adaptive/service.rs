//! [`Adaptive`]: the tower service.

use super::future::ResponseFuture;
use super::handle::{AdaptiveLimiter, Shared};
use crate::service::BoxError;
use std::fmt;
use std::task::{Context, Poll};
use tower_service::Service;

/// A service behind an adaptive limit: at most the limiter's current limit
/// of calls in flight, across all clones; a call over it is refused at once
/// with a [`Rejected`](ballast_core::Rejected)
/// ([`Reason::Overloaded`](ballast_core::Reason::Overloaded), boxed into
/// the error), never queued.
///
/// Each call's round trip is measured from `call` to the response; an
/// `Err` from the inner service counts as a drop. The permit is taken in
/// `call`, not `poll_ready` (so a clone polled ready and never called holds
/// nothing), and lives in the [`ResponseFuture`]: dropped before it
/// finishes, the call gives its permit back and records nothing.
pub struct Adaptive<S> {
    inner: S,
    limiter: AdaptiveLimiter,
}

impl<S> Adaptive<S> {
    /// Puts `inner` behind `limiter`.
    pub fn new(inner: S, limiter: AdaptiveLimiter) -> Self {
        Self { inner, limiter }
    }

    /// The limiter this service draws permits from.
    pub fn limiter(&self) -> &AdaptiveLimiter {
        &self.limiter
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

// A clone shares the limiter: one reference-count increment.
impl<S: Clone> Clone for Adaptive<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Adaptive<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adaptive")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish()
    }
}

impl<S, Req> Service<Req> for Adaptive<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // No permit here: it is taken in `call` (see the type's docs).
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        // The `Arc` is cloned after the inner call, with a borrowed permit
        // until then (a panic in the inner call still gives the slot
        // back), as in the circuit breaker's service: measured faster.
        let shared: &Shared = &self.limiter.shared;
        match Shared::acquire(&shared) {
            Ok(permit) => {
                let future = self.inner.call(req);
                ResponseFuture::running(future, permit.hand_to(self.limiter.shared.clone()))
            }
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}

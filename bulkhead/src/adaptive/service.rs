//! [`Adaptive`]: the tower service.

use super::future::ResponseFuture;
use super::handle::{AdaptiveLimiter, Shared};
use super::permit::Holder;
use crate::service::BoxError;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

/// What a service value's calls hold to give their permit back.
///
/// Every clone of a service shares one `Local`, and each call's future
/// holds an `Arc` of it: a clone, and a call, is one reference-count
/// increment, never an allocation.
pub(crate) struct Local {
    limiter: AdaptiveLimiter,
}

impl Holder for Arc<Local> {
    #[inline]
    fn shared(&self) -> &Shared {
        &self.limiter.shared
    }
}

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
    local: Arc<Local>,
}

impl<S> Adaptive<S> {
    /// Puts `inner` behind `limiter`.
    pub fn new(inner: S, limiter: AdaptiveLimiter) -> Self {
        Self {
            inner,
            local: Arc::new(Local { limiter }),
        }
    }

    /// The limiter this service draws permits from.
    pub fn limiter(&self) -> &AdaptiveLimiter {
        &self.local.limiter
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

// A clone shares the `Local`: one reference-count increment.
impl<S: Clone> Clone for Adaptive<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            local: self.local.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Adaptive<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adaptive")
            .field("inner", &self.inner)
            .field("limiter", &self.local.limiter)
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
        let shared: &Shared = &self.local.limiter.shared;
        match Shared::acquire(&shared) {
            Ok(permit) => {
                let future = self.inner.call(req);
                ResponseFuture::running(future, permit.hand_to(self.local.clone()))
            }
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}

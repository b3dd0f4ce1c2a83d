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
/// Each service value has its own `Local`, and each call's future holds an
/// `Arc` of it, so the per-call reference count sits on a cache line one
/// task uses, not on the limiter's shared `Arc` that every task's every
/// call would write. Aligned to 128 bytes so two `Local`s (and the counts
/// just before them) never share a line.
#[repr(align(128))]
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

// Written by hand: a clone shares the limiter but gets a `Local` of its
// own (see `Local`).
impl<S: Clone> Clone for Adaptive<S> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.local.limiter.clone())
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
        match Shared::acquire(&self.local) {
            Ok(permit) => ResponseFuture::running(self.inner.call(req), permit),
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}

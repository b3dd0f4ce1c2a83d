//! [`CircuitBreaker`]: the tower service.

use crate::breaker::{Breaker, Shared};
use crate::classify::Classifier;
use crate::future::ResponseFuture;
use crate::permit::{Guard, Holder};
use crate::sync::CachePadded;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

pub use ballast_core::BoxError;

/// What a service's in-flight calls hold: the breaker and the classifier.
///
/// Every clone of a service shares one `Local`, and each call's future
/// holds an `Arc` of it so it can record its outcome: a clone, and a call,
/// is one reference-count increment, never an allocation. It is kept
/// [`CachePadded`] in its `Arc`, so its fields, which every call reads,
/// start past the line of the reference counts, which calls on every
/// core write.
pub struct Local<C> {
    pub(crate) breaker: Breaker,
    pub(crate) classifier: C,
}

impl<C> Holder for Arc<CachePadded<Local<C>>> {
    #[inline]
    fn shared(&self) -> &Shared {
        &self.breaker.shared
    }
}

/// A service behind a circuit breaker: calls are refused with a
/// [`Rejected`](ballast_core::Rejected) (boxed into the error) while the
/// circuit is open, and every outcome feeds the breaker.
///
/// A refusal by a ballast layer below it (a full bulkhead, a rate limit,
/// another breaker: any [`Rejected`](ballast_core::Rejected) but a passed
/// deadline) is not counted as a failure, whatever the classifier says: it
/// says nothing of the dependency's health, and counting it would let a
/// local overload trip the circuit. A passed deadline below the breaker (a
/// per-attempt timeout) counts as the classifier says, a failure by default.
///
/// Clones share the breaker. The service's error is [`BoxError`]: the
/// inner service's error or the rejection, told apart with
/// `err.downcast_ref::<Rejected>()`.
pub struct CircuitBreaker<S, C> {
    inner: S,
    local: Arc<CachePadded<Local<C>>>,
}

impl<S, C> CircuitBreaker<S, C> {
    /// Wraps `inner` in `breaker`, classifying results with `classifier`.
    pub fn new(inner: S, breaker: Breaker, classifier: C) -> Self {
        Self {
            inner,
            local: Arc::new(CachePadded(Local {
                breaker,
                classifier,
            })),
        }
    }

    /// The breaker this service reports to.
    pub fn breaker(&self) -> &Breaker {
        &self.local.breaker
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

// Written by hand: a derive would ask for `C: Clone`, which sharing the
// `Local` does not need.
impl<S: Clone, C> Clone for CircuitBreaker<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            local: self.local.clone(),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreaker<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("breaker", &self.local.breaker)
            .finish()
    }
}

impl<S, C, Req> Service<Req> for CircuitBreaker<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classifier<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The permit is taken in `call`, not here: a clone that is polled
        // ready and never called holds nothing.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let shared = &*self.local.breaker.shared;
        match shared.core.try_acquire(&shared.clock) {
            Ok(ticket) => {
                // The `Arc` is cloned after the inner call, with a borrowed
                // guard until then (a panic in the inner call still records
                // the call): cloned before, the guard was kept on the stack
                // across the call and copied into the future after, and the
                // closed path cost twice as much (hot_paths, `breaker`).
                let guard = Guard::new(shared, ticket);
                let future = self.inner.call(req);
                ResponseFuture::called(future, guard.hand_to(self.local.clone()))
            }
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;
    use crate::Config;
    use crate::classify::ErrorsAreFailures;

    #[test]
    fn the_local_every_call_reads_starts_past_the_reference_counts_lines() {
        // An `Arc` allocation holds its two counts, then the value at the
        // value's alignment (`ArcInner` is `repr(C)`): at 128 or more, the
        // value starts two cache lines past the counts.
        let breaker = Breaker::new(Config::default());
        let svc = CircuitBreaker::new((), breaker, ErrorsAreFailures);
        assert!(std::mem::align_of_val(&*svc.local) >= 128);
    }
}

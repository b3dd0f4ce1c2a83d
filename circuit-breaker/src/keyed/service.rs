//! [`KeyedCircuitBreaker`]: the tower service with a breaker per key.

use super::registry::KeyedBreakers;
use crate::breaker::{Breaker, Shared};
use crate::classify::Classifier;
use crate::future::{CallHolder, ResponseFuture};
use crate::permit::{Guard, Holder};
use crate::service::BoxError;
use std::any::type_name;
use std::fmt;
use std::hash::Hash;
use std::task::{Context, Poll};
use tower_service::Service;

/// A service behind a breaker per key: each call goes through the breaker
/// of `key(&request)`, created on the key's first call, and is refused
/// with a [`Rejected`](ballast_core::Rejected) (boxed into the error) while
/// that key's circuit is open. Other keys are not affected.
///
/// Clones share the registry. The service's error is [`BoxError`]: the
/// inner service's error or the rejection, told apart with
/// `err.downcast_ref::<Rejected>()`.
pub struct KeyedCircuitBreaker<S, K, F, C> {
    inner: S,
    breakers: KeyedBreakers<K>,
    key: F,
    classifier: C,
}

impl<S, K, F, C> KeyedCircuitBreaker<S, K, F, C> {
    /// Wraps `inner`, keying requests with `key` into `breakers` and
    /// classifying results with `classifier`.
    pub fn new(inner: S, breakers: KeyedBreakers<K>, key: F, classifier: C) -> Self {
        Self {
            inner,
            breakers,
            key,
            classifier,
        }
    }

    /// The registry this service reports to.
    pub fn breakers(&self) -> &KeyedBreakers<K> {
        &self.breakers
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

// Written by hand: `K` need not be `Clone` to share the registry. A clone
// holds no reservation (permits live in the call futures).
impl<S: Clone, K, F: Clone, C: Clone> Clone for KeyedCircuitBreaker<S, K, F, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breakers: self.breakers.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S: fmt::Debug, K, F, C> fmt::Debug for KeyedCircuitBreaker<S, K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreaker")
            .field("inner", &self.inner)
            .field("breakers", &self.breakers)
            .field("key", &type_name::<F>())
            .finish()
    }
}

impl<S, K, F, C, Req> Service<Req> for KeyedCircuitBreaker<S, K, F, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    F: Fn(&Req) -> K,
    C: Classifier<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C, KeyedLocal<C>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The permit is taken in `call`, once the request names its key: a
        // clone that is polled ready and never called holds nothing.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let breaker = self.breakers.breaker_for((self.key)(&req));
        let shared = &*breaker.shared;
        match shared.core.try_acquire(&shared.clock) {
            Ok(ticket) => {
                // No allocation: the future holds the key's breaker (the
                // reference the lookup took) and its own copy of the
                // classifier (zero-sized for the default).
                let local = KeyedLocal {
                    breaker,
                    classifier: self.classifier.clone(),
                };
                ResponseFuture::called(self.inner.call(req), Guard::new(local, ticket))
            }
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}

/// What an admitted keyed call's future holds: its key's breaker and a
/// copy of the classifier. Public in a private module: it names the
/// holder in [`KeyedCircuitBreaker`]'s future type, but no one outside the
/// crate can name it.
pub struct KeyedLocal<C> {
    breaker: Breaker,
    classifier: C,
}

impl<C> Holder for KeyedLocal<C> {
    #[inline]
    fn shared(&self) -> &Shared {
        &self.breaker.shared
    }
}

impl<C> CallHolder<C> for KeyedLocal<C> {
    #[inline]
    fn classifier(&self) -> &C {
        &self.classifier
    }
}

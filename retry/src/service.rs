//! [`Retry`]: the tower service.

use crate::classify::{Classifier, CloneRequest, CloneRequests};
use crate::future::ResponseFuture;
use crate::plan::Tracker;
use crate::policy::{Policy, Shared};
use crate::sync::CachePadded;
use ballast_deadline::{DeadlineSource, TaskLocal};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

pub use ballast_core::BoxError;

/// What a service's in-flight calls hold: the policy and the request
/// cloner.
///
/// Every clone of a service shares one `Local`, and each call's future
/// holds an `Arc` of it: a clone, and a call, is one reference-count
/// increment, never an allocation. It is kept [`CachePadded`] in its
/// `Arc`, so its fields, which every call reads, start past the line of
/// the reference counts, which calls on every core write.
///
/// Public in a private module: it names what the future holds in public
/// types' parameters, but no one outside the crate can name it.
pub struct Local<C, K> {
    pub(crate) policy: Policy<C>,
    pub(crate) cloner: K,
}

impl<C, K> Local<C, K> {
    /// The policy's budget, counts and settings.
    #[inline]
    pub(crate) fn shared(&self) -> &Shared<C> {
        &self.policy.shared
    }
}

/// A service whose calls are retried under a [`Policy`].
///
/// Each call makes its first attempt on the service as it was polled
/// ready; retries wait their backoff, then poll a clone of the inner
/// service ready and call it with a copy of the request (so `S` must be
/// `Clone`). The call ends with the last attempt's own outcome (response
/// or error) whenever it stops retrying, whatever the reason; the
/// service's error is [`BoxError`], that attempt's own error. The layer
/// makes no synthetic errors: it makes the first attempt whatever the
/// deadline (refusing a request whose deadline has already passed is the
/// deadline layer's job, ballast-deadline's `Timeout`, placed below this
/// one) and hands back its outcome if no time is left to retry.
///
/// Clones share the policy's budget and counts: a clone, and a call, is
/// one reference-count increment.
pub struct Retry<S, C, K = CloneRequests, Src = TaskLocal> {
    inner: S,
    local: Arc<CachePadded<Local<C, K>>>,
    source: Src,
    _classifier: PhantomData<fn() -> (C, K)>,
}

impl<S, C> Retry<S, C> {
    /// Wraps `inner` in `policy`, copying requests with `Clone` and
    /// reading deadlines from the task.
    pub fn new(inner: S, policy: Policy<C>) -> Self {
        Self::with_parts(inner, policy, CloneRequests, TaskLocal)
    }
}

impl<S, C, K, Src> Retry<S, C, K, Src> {
    pub(crate) fn with_parts(inner: S, policy: Policy<C>, cloner: K, source: Src) -> Self {
        let local = Arc::new(CachePadded(Local { policy, cloner }));
        Self::with_local(inner, local, source)
    }

    /// The policy this service applies.
    pub fn policy(&self) -> &Policy<C> {
        &self.local.policy
    }

    fn with_local(inner: S, local: Arc<CachePadded<Local<C, K>>>, source: Src) -> Self {
        Self {
            inner,
            local,
            source,
            _classifier: PhantomData,
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

// Written by hand: a derive would ask for `C: Clone`. A clone shares the
// `Local`: one reference-count increment.
impl<S: Clone, C, K, Src: Clone> Clone for Retry<S, C, K, Src> {
    fn clone(&self) -> Self {
        Self::with_local(self.inner.clone(), self.local.clone(), self.source.clone())
    }
}

impl<S: fmt::Debug, C, K, Src> fmt::Debug for Retry<S, C, K, Src> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("policy", self.local.shared())
            .finish_non_exhaustive()
    }
}

impl<S, C, K, Src, Req> Service<Req> for Retry<S, C, K, Src>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: Classifier<S::Response, S::Error>,
    K: CloneRequest<Req>,
    Src: DeadlineSource<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, S, Req, C, K>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        // First, before the stores below: a locked increment (an `Arc`'s)
        // waits for the stores ahead of it to drain.
        let local = self.local.clone();
        let shared = local.shared();
        shared.begin();
        // The task's current deadline binds whatever the source says.
        let deadline = self.source.binding(&req);
        // No check that the deadline has not passed already: it would cost
        // every call a few nanoseconds, and refusing expired requests is the
        // deadline layer's job (ballast-deadline's `Timeout`, below this
        // one, refuses them without calling the service). If one gets
        // through, its outcome is returned without a retry.
        let tracker = Tracker::start(shared, deadline);
        let spare = self.local.cloner.clone_request(&req);
        let future = self.inner.call(req);
        ResponseFuture::new(future, self.inner.clone(), spare, local, tracker)
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;
    use crate::{Config, RetryErrors};

    #[test]
    fn the_local_every_call_reads_starts_past_the_reference_counts_lines() {
        // An `Arc` allocation holds its two counts, then the value at the
        // value's alignment (`ArcInner` is `repr(C)`): at 128 or more, the
        // value starts two cache lines past the counts.
        let svc = Retry::new((), Policy::new(Config::default(), RetryErrors));
        assert!(std::mem::align_of_val(&*svc.local) >= 128);
    }
}

//! [`Hedge`]: the tower service.

use super::future::{HedgeFuture, ServiceLaunch};
use super::policy::HedgePolicy;
use super::race::Race;
use crate::classify::{CloneRequest, CloneRequests};
use crate::sync::CachePadded;
use ballast_deadline::{DeadlineSource, TaskLocal};
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

/// What a service's in-flight calls hold: the policy and the request
/// cloner.
///
/// Every clone of a service shares one `Local`, and each call's future
/// holds an `Arc` of it: a clone, and a call, is one reference-count
/// increment, never an allocation. It is kept [`CachePadded`] in its
/// `Arc`, as retry's is (see `crate::service::Local`).
pub(crate) struct Local<K> {
    pub(crate) policy: HedgePolicy,
    pub(crate) cloner: K,
}

/// A service whose slow calls are hedged under a [`HedgePolicy`]: when
/// the first attempt has not answered after the policy's delay, a backup
/// is sent (budget and deadline permitting) on a clone of the inner
/// service with a copy of the request; the first answer, success or
/// error, is the call's, and the other attempts are dropped.
///
/// Only for idempotent requests: a backup may run to completion on the
/// dependency even though its answer is thrown away. A request the cloner
/// cannot copy is never hedged.
///
/// Clones share the policy's budget, latencies and counts.
pub struct Hedge<S, K = CloneRequests, Src = TaskLocal> {
    inner: S,
    local: Arc<CachePadded<Local<K>>>,
    source: Src,
}

impl<S> Hedge<S> {
    /// Wraps `inner` in `policy`, copying requests with `Clone` and
    /// reading deadlines from the task.
    pub fn new(inner: S, policy: HedgePolicy) -> Self {
        Self::with_parts(inner, policy, CloneRequests, TaskLocal)
    }
}

impl<S, K, Src> Hedge<S, K, Src> {
    pub(crate) fn with_parts(inner: S, policy: HedgePolicy, cloner: K, source: Src) -> Self {
        Self {
            inner,
            local: Arc::new(CachePadded(Local { policy, cloner })),
            source,
        }
    }

    /// The policy this service applies.
    pub fn policy(&self) -> &HedgePolicy {
        &self.local.policy
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

// Written by hand: a derive would ask for `K: Clone`. A clone shares the
// `Local`: one reference-count increment.
impl<S: Clone, K, Src: Clone> Clone for Hedge<S, K, Src> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            local: self.local.clone(),
            source: self.source.clone(),
        }
    }
}

impl<S: fmt::Debug, K, Src> fmt::Debug for Hedge<S, K, Src> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("inner", &self.inner)
            .field("policy", &self.local.policy)
            .finish_non_exhaustive()
    }
}

impl<S, K, Src, Req> Service<Req> for Hedge<S, K, Src>
where
    S: Service<Req> + Clone,
    S::Error: 'static,
    K: CloneRequest<Req>,
    Src: DeadlineSource<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = HedgeFuture<S::Future, S, Req, K>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let shared = &self.local.policy.shared;
        shared.begin();
        // The task's current deadline binds whatever the source says.
        let deadline = self.source.binding(&req);
        let spare = self.local.cloner.clone_request(&req);
        let first = self.inner.call(req);
        let launcher = ServiceLaunch {
            service: self.inner.clone(),
            spare,
            local: self.local.clone(),
        };
        HedgeFuture::new(Race::new(first, launcher, deadline))
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;
    use crate::HedgeConfig;

    #[test]
    fn the_local_every_call_reads_starts_past_the_reference_counts_lines() {
        // An `Arc` allocation holds its two counts, then the value at the
        // value's alignment (`ArcInner` is `repr(C)`): at 128 or more, the
        // value starts two cache lines past the counts.
        let svc = Hedge::new((), HedgePolicy::new(HedgeConfig::default()));
        assert!(std::mem::align_of_val(&*svc.local) >= 128);
    }
}

//! [`HedgeLayer`]: wraps services in a [`Hedge`].

use super::policy::HedgePolicy;
use super::service::Hedge;
use crate::classify::CloneRequests;
use ballast_deadline::TaskLocal;
use std::fmt;
use tower_layer::Layer;

/// A tower layer that hedges, under one [`HedgePolicy`], the calls of
/// every service it wraps.
///
/// Requests are copied for backups with `Clone` unless
/// [`clone_requests_with`](Self::clone_requests_with) says otherwise, and
/// each request's deadline is the task's ([`TaskLocal`]) unless
/// [`source`](Self::source) says otherwise.
pub struct HedgeLayer<K = CloneRequests, Src = TaskLocal> {
    policy: HedgePolicy,
    cloner: K,
    source: Src,
}

impl HedgeLayer {
    /// A layer applying `policy`.
    pub fn new(policy: HedgePolicy) -> Self {
        Self {
            policy,
            cloner: CloneRequests,
            source: TaskLocal,
        }
    }
}

impl<K, Src> HedgeLayer<K, Src> {
    /// Copies requests for backups with `cloner` (a
    /// [`CloneRequest`](crate::CloneRequest), such as a closure
    /// `Fn(&Req) -> Option<Req>` that says `None` for a streaming body:
    /// such a request is never hedged).
    pub fn clone_requests_with<K2>(self, cloner: K2) -> HedgeLayer<K2, Src> {
        HedgeLayer {
            policy: self.policy,
            cloner,
            source: self.source,
        }
    }

    /// For `http::Request`s: hedges only the requests whose method is
    /// idempotent (`GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE`, `TRACE`), so
    /// a `POST` is never sent twice; the same as
    /// `clone_requests_with(IdempotentRequests::new())`. Feature `http`.
    #[cfg(feature = "http")]
    pub fn idempotent_http(self) -> HedgeLayer<crate::http::IdempotentRequests, Src> {
        self.clone_requests_with(crate::http::IdempotentRequests::new())
    }

    /// Reads each request's deadline from `source` (see
    /// [`DeadlineSource`](ballast_deadline::DeadlineSource)); the task's
    /// current deadline binds as well. No backup is sent that would leave
    /// less than the [`min_attempt_time`](crate::HedgeConfig::min_attempt_time)
    /// before it.
    pub fn source<Src2>(self, source: Src2) -> HedgeLayer<K, Src2> {
        HedgeLayer {
            policy: self.policy,
            cloner: self.cloner,
            source,
        }
    }

    /// The policy the layer's services share.
    pub fn policy(&self) -> &HedgePolicy {
        &self.policy
    }
}

impl<K: Clone, Src: Clone> Clone for HedgeLayer<K, Src> {
    fn clone(&self) -> Self {
        Self {
            policy: self.policy.clone(),
            cloner: self.cloner.clone(),
            source: self.source.clone(),
        }
    }
}

impl<K, Src> fmt::Debug for HedgeLayer<K, Src> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeLayer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, K: Clone, Src: Clone> Layer<S> for HedgeLayer<K, Src> {
    type Service = Hedge<S, K, Src>;

    fn layer(&self, inner: S) -> Self::Service {
        Hedge::with_parts(
            inner,
            self.policy.clone(),
            self.cloner.clone(),
            self.source.clone(),
        )
    }
}

//! [`RetryLayer`]: wraps services in a [`Retry`].

use crate::classify::CloneRequests;
use crate::policy::Policy;
use crate::service::Retry;
use ballast_deadline::TaskLocal;
use std::fmt;
use tower_layer::Layer;

/// A tower layer that retries, under one [`Policy`], the calls of every
/// service it wraps.
///
/// Requests are copied for retries with `Clone` unless
/// [`clone_requests_with`](Self::clone_requests_with) says otherwise, and
/// each request's deadline is the task's ([`TaskLocal`]) unless
/// [`source`](Self::source) says otherwise.
pub struct RetryLayer<C, K = CloneRequests, Src = TaskLocal> {
    policy: Policy<C>,
    cloner: K,
    source: Src,
}

impl<C> RetryLayer<C> {
    /// A layer applying `policy`.
    pub fn new(policy: Policy<C>) -> Self {
        Self {
            policy,
            cloner: CloneRequests,
            source: TaskLocal,
        }
    }
}

impl<C, K, Src> RetryLayer<C, K, Src> {
    /// Copies requests for retries with `cloner` (a
    /// [`CloneRequest`](crate::CloneRequest), such as a closure
    /// `Fn(&Req) -> Option<Req>` that says `None` for a streaming body).
    pub fn clone_requests_with<K2>(self, cloner: K2) -> RetryLayer<C, K2, Src> {
        RetryLayer {
            policy: self.policy,
            cloner,
            source: self.source,
        }
    }

    /// Reads each request's deadline from `source` (see
    /// [`DeadlineSource`](ballast_deadline::DeadlineSource)); the task's
    /// current deadline binds as well.
    pub fn source<Src2>(self, source: Src2) -> RetryLayer<C, K, Src2> {
        RetryLayer {
            policy: self.policy,
            cloner: self.cloner,
            source,
        }
    }

    /// The policy the layer's services share.
    pub fn policy(&self) -> &Policy<C> {
        &self.policy
    }
}

impl<C, K: Clone, Src: Clone> Clone for RetryLayer<C, K, Src> {
    fn clone(&self) -> Self {
        Self {
            policy: self.policy.clone(),
            cloner: self.cloner.clone(),
            source: self.source.clone(),
        }
    }
}

impl<C, K, Src> fmt::Debug for RetryLayer<C, K, Src> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, C, K: Clone, Src: Clone> Layer<S> for RetryLayer<C, K, Src> {
    type Service = Retry<S, C, K, Src>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::with_parts(
            inner,
            self.policy.clone(),
            self.cloner.clone(),
            self.source.clone(),
        )
    }
}

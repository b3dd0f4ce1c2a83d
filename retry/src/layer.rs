//! [`RetryLayer`]: wraps services in a [`Retry`].

use crate::classify::CloneRequests;
use crate::policy::Policy;
use crate::service::Retry;
use ballast_deadline::TaskLocal;
use std::fmt;
use std::marker::PhantomData;
use tower_layer::Layer;

/// A tower layer that retries, under one [`Policy`], the calls of every
/// service it wraps.
///
/// Requests are copied for retries by [`CloneRequests`] (every request
/// that is safe to send twice: never an HTTP `POST` without an
/// `Idempotency-Key`) unless
/// [`clone_requests_with`](Self::clone_requests_with) says otherwise, and
/// each request's deadline is the task's ([`TaskLocal`]) unless
/// [`source`](Self::source) says otherwise.
pub struct RetryLayer<C, K = CloneRequests, Src = TaskLocal> {
    policy: Policy<C>,
    cloner: K,
    source: Src,
    _classifier: PhantomData<fn() -> C>,
}

impl<C> RetryLayer<C> {
    /// A layer applying `policy`.
    pub fn new(policy: Policy<C>) -> Self {
        Self {
            policy,
            cloner: CloneRequests,
            source: TaskLocal,
            _classifier: PhantomData,
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
            _classifier: PhantomData,
        }
    }

    /// For `http::Request`s: copies for retries only the requests whose
    /// method is idempotent (`GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE`,
    /// `TRACE`), carry an `Idempotency-Key` or are gRPC calls, so a failed
    /// `POST` is never sent twice; the same as
    /// `clone_requests_with(IdempotentRequests::new())` (see
    /// [`IdempotentRequests`](crate::http::IdempotentRequests) to allow
    /// more). The default cloner ([`CloneRequests`]) keeps the same rule
    /// for `http::Request`s; this names it. Feature `http`.
    #[cfg(feature = "http")]
    pub fn idempotent_http(self) -> RetryLayer<C, crate::http::IdempotentRequests, Src> {
        self.clone_requests_with(crate::http::IdempotentRequests::new())
    }

    /// Reads each request's deadline from `source` (see
    /// [`DeadlineSource`](ballast_deadline::DeadlineSource)); the task's
    /// current deadline binds as well.
    pub fn source<Src2>(self, source: Src2) -> RetryLayer<C, K, Src2> {
        RetryLayer {
            policy: self.policy,
            cloner: self.cloner,
            source,
            _classifier: PhantomData,
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
            _classifier: PhantomData,
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

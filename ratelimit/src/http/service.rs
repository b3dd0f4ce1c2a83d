//! [`HttpRateLimit`]: the HTTP service.

use super::body::{DefaultBody, RejectBody};
use super::future::HttpResponseFuture;
use super::headers::Fields;
use crate::layer::Policy;
use crate::limiter::{Decision, RateLimiter};
use http::{Request, Response};
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

/// An HTTP service behind a rate limit; refusals are 429 responses, so
/// its error type is the inner service's (`Infallible` for axum).
///
/// Like [`RateLimit`](crate::RateLimit) it takes cells in `call` and, in
/// wait mode, calls a clone of the inner service once the cells are due.
#[derive(Clone)]
pub struct HttpRateLimit<S, P = RateLimiter, M = DefaultBody> {
    inner: S,
    policy: P,
    fields: Arc<Fields>,
    body: M,
}

impl<S: fmt::Debug, P: fmt::Debug, M> fmt::Debug for HttpRateLimit<S, P, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRateLimit")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, P, M> HttpRateLimit<S, P, M> {
    pub(crate) fn new(inner: S, policy: P, fields: Arc<Fields>, body: M) -> Self {
        Self {
            inner,
            policy,
            fields,
            body,
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

impl<S, P, M, ReqB, ResB> Service<Request<ReqB>> for HttpRateLimit<S, P, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    P: Policy<Request<ReqB>>,
    M: RejectBody<ResB> + Clone,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = HttpResponseFuture<S, ReqB, P, M>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let (decision, usage) = self.policy.decide_usage(&req, 0, self.fields.on_admitted());
        match decision {
            Decision::Go => {
                let headers = usage.map(|u| (u, self.fields.clone()));
                HttpResponseFuture::called(self.inner.call(req), headers)
            }
            Decision::Reject(rejected) => {
                let body = self.body.body(&rejected);
                let res = self.fields.refusal(body, &rejected, usage);
                HttpResponseFuture::rejected(res)
            }
            decision => {
                let fresh = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, fresh);
                let waiting = super::future::Wait {
                    svc: ready,
                    req,
                    policy: self.policy.clone(),
                    fields: self.fields.clone(),
                    body: self.body.clone(),
                    usage,
                };
                HttpResponseFuture::waiting(decision, waiting)
            }
        }
    }
}

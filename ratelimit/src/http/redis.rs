//! [`HttpRedisRateLimitLayer`]: the HTTP layer on the limit shared
//! through Redis (features `http` and `redis`).
//!
//! The same answers as [`HttpRateLimitLayer`](super::HttpRateLimitLayer):
//! a refusal is a 429 with `Retry-After` (or what the family's
//! [table](ballast_core::answer) says for a permanent refusal), and the
//! rate-limit fields read from the script's reply (what the shared limit
//! has left, on Redis's clock), so a fleet of servers answers one limit
//! the standard way. When the [`Fallback`](crate::redis::Fallback)
//! decided (Redis down or slow), no usage is known: a refusal carries
//! `Retry-After` only, an admitted response no fields.

use super::body::{DefaultBody, RejectBody};
use super::config::HttpConfig;
use super::headers::Fields;
use crate::config::Limit;
use crate::redis::{Admitted, RedisRateLimiter};
use crate::state::Usage;
use ballast_core::Rejected;
use http::{Request, Response};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tower_layer::Layer;
use tower_service::Service;

/// Limits an HTTP service by a [`RedisRateLimiter`], one shared limit per
/// key that `key_fn` picks from each request. Build it with
/// [`RedisRateLimiter::http_layer`].
///
/// The layer and its services are `Clone`; every clone shares the limiter.
#[derive(Clone)]
pub struct HttpRedisRateLimitLayer<F, M = DefaultBody> {
    limiter: RedisRateLimiter,
    key_fn: F,
    fields: Arc<Fields>,
    body: M,
}

impl<F, M> fmt::Debug for HttpRedisRateLimitLayer<F, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRedisRateLimitLayer")
            .field("limiter", &self.limiter)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl<F> HttpRedisRateLimitLayer<F> {
    /// A layer limiting each request by the key `key_fn` returns for it.
    pub fn new(limiter: RedisRateLimiter, key_fn: F, config: HttpConfig) -> Self {
        let limit = Limit::Gcra(limiter.config().quota());
        let fields = Arc::new(Fields::new(&config, &limit));
        Self {
            limiter,
            key_fn,
            fields,
            body: DefaultBody,
        }
    }
}

impl<F, M> HttpRedisRateLimitLayer<F, M> {
    /// Makes each refusal's body with `body` instead of the body type's
    /// `Default`: any `Fn(&Rejected) -> B + Clone`, or a
    /// [`RejectBody`](super::RejectBody).
    pub fn body<N>(self, body: N) -> HttpRedisRateLimitLayer<F, N> {
        HttpRedisRateLimitLayer {
            limiter: self.limiter,
            key_fn: self.key_fn,
            fields: self.fields,
            body,
        }
    }
}

impl<S, F: Clone, M: Clone> Layer<S> for HttpRedisRateLimitLayer<F, M> {
    type Service = HttpRedisRateLimit<S, F, M>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpRedisRateLimit {
            inner,
            limiter: self.limiter.clone(),
            key_fn: self.key_fn.clone(),
            fields: self.fields.clone(),
            body: self.body.clone(),
        }
    }
}

/// An HTTP service behind a limit shared through Redis; refusals are
/// responses, so its error type is the inner service's (`Infallible` for
/// axum).
///
/// The check is a round trip to Redis in `call`, so, as
/// [`RedisRateLimit`](crate::redis::RedisRateLimit) does, the request
/// waits in the future with the inner service that was polled ready (a
/// clone takes its place here).
#[derive(Clone)]
pub struct HttpRedisRateLimit<S, F, M = DefaultBody> {
    inner: S,
    limiter: RedisRateLimiter,
    key_fn: F,
    fields: Arc<Fields>,
    body: M,
}

impl<S: fmt::Debug, F, M> fmt::Debug for HttpRedisRateLimit<S, F, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRedisRateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<S, F, M> HttpRedisRateLimit<S, F, M> {
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

impl<S, F, K, M, ReqB, ResB> Service<Request<ReqB>> for HttpRedisRateLimit<S, F, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    F: Fn(&Request<ReqB>) -> K,
    K: AsRef<str> + Send + 'static,
    M: RejectBody<ResB> + Clone,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = HttpRedisResponseFuture<S, ReqB, M>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let key = (self.key_fn)(&req);
        let limiter = self.limiter.clone();
        // Boxed: the check is an async fn, whose future type has no name.
        // One allocation beside a network round trip.
        let check = Box::pin(async move { limiter.check_usage(key.as_ref(), 1).await });
        let fresh = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, fresh);
        HttpRedisResponseFuture {
            kind: Kind::Checking {
                check,
                call: Some((ready, req)),
                fields: self.fields.clone(),
                body: self.body.clone(),
            },
        }
    }
}

/// The check in flight, with the limit's usage when Redis decided.
type Check = Pin<Box<dyn Future<Output = (Result<Admitted, Rejected>, Option<Usage>)> + Send>>;

pin_project! {
    /// The future of an [`HttpRedisRateLimit`] call: the check (a round
    /// trip to Redis, or the fallback), then the inner call or the
    /// refusal. Dropped during the check, it drops the check, which gives
    /// the breaker in front of Redis back its permit; the inner service is
    /// not called.
    pub struct HttpRedisResponseFuture<S, ReqB, M>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        kind: Kind<S, ReqB, M>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, ReqB, M>
    where
        S: Service<Request<ReqB>>,
    {
        Checking {
            check: Check,
            call: Option<(S, Request<ReqB>)>,
            fields: Arc<Fields>,
            body: M,
        },
        Called {
            #[pin]
            future: S::Future,
            headers: Option<(Usage, Arc<Fields>)>,
        },
    }
}

impl<S, ReqB, M, ResB> Future for HttpRedisResponseFuture<S, ReqB, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    M: RejectBody<ResB>,
{
    type Output = Result<Response<ResB>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        if let KindProj::Checking {
            check,
            call,
            fields,
            body,
        } = kind.as_mut().project()
        {
            let (decision, usage) = ready!(check.as_mut().poll(cx));
            if let Err(rejected) = decision {
                let res = fields.refusal(body.body(&rejected), &rejected, usage);
                return Poll::Ready(Ok(res));
            }
            let (mut svc, req) = call.take().expect("polled after completion");
            let headers = match usage {
                Some(usage) if fields.on_admitted() => Some((usage, fields.clone())),
                _ => None,
            };
            kind.set(Kind::Called {
                future: svc.call(req),
                headers,
            });
        }
        match kind.project() {
            KindProj::Called { future, headers } => {
                let mut res = ready!(future.poll(cx))?;
                if let Some((usage, fields)) = headers.take() {
                    fields.write(res.headers_mut(), usage);
                }
                Poll::Ready(Ok(res))
            }
            KindProj::Checking { .. } => unreachable!("set to Called above"),
        }
    }
}

impl<S: Service<Request<ReqB>>, ReqB, M> fmt::Debug for HttpRedisResponseFuture<S, ReqB, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HttpRedisResponseFuture")
    }
}

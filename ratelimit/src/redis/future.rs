//! [`ResponseFuture`]: a call waiting for the Redis check, then the call.

use super::limiter::Admitted;
use crate::service::BoxError;
use ballast_core::Rejected;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tower_service::Service;

/// The check in flight.
pub(crate) type Check = Pin<Box<dyn Future<Output = Result<Admitted, Rejected>> + Send>>;

pin_project! {
    /// The future of a [`RedisRateLimit`](super::RedisRateLimit) call.
    ///
    /// First the check (a round trip to Redis, or the fallback), holding
    /// the ready inner service and the request; then, if admitted, the
    /// inner call. Dropped during the check, it drops the check, which
    /// gives the breaker back its permit; the inner service is not called.
    pub struct ResponseFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        kind: Kind<S, Req>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, Req>
    where
        S: Service<Req>,
    {
        Checking {
            check: Check,
            svc: Option<S>,
            req: Option<Req>,
        },
        Called {
            #[pin]
            future: S::Future,
        },
    }
}

impl<S: Service<Req>, Req> ResponseFuture<S, Req> {
    pub(crate) fn new(check: Check, svc: S, req: Req) -> Self {
        Self {
            kind: Kind::Checking {
                check,
                svc: Some(svc),
                req: Some(req),
            },
        }
    }
}

impl<S, Req> Future for ResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        if let KindProj::Checking { check, svc, req } = kind.as_mut().project() {
            if let Err(rejected) = ready!(check.as_mut().poll(cx)) {
                return Poll::Ready(Err(Box::new(rejected)));
            }
            let mut svc = svc.take().expect("polled after completion");
            let req = req.take().expect("polled after completion");
            kind.set(Kind::Called {
                future: svc.call(req),
            });
        }
        match kind.project() {
            KindProj::Called { future } => future.poll(cx).map_err(Into::into),
            KindProj::Checking { .. } => unreachable!("set to Called above"),
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ResponseFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

//! [`ResponseFuture`]: a limited call, waiting for its cells if it must.

use crate::layer::Policy;
use crate::limiter::{Decision, Waiting};
use crate::service::BoxError;
use ballast_core::{Rejected, nanos};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::time::{Instant, Sleep};
use tower_service::Service;

pin_project! {
    /// The future of a [`RateLimit`](crate::RateLimit) call.
    ///
    /// Admitted at once, it is the inner call. Made to wait, it holds the
    /// ready inner service and the request, sleeps until the cells are due
    /// and then calls. Dropped while waiting, it counts the wait as over;
    /// the GCRA cells it reserved are not given back (see
    /// [`RateLimiter::until_ready`](crate::RateLimiter::until_ready)).
    pub struct ResponseFuture<S, Req, P>
    where
        S: Service<Req>,
    {
        #[pin]
        kind: Kind<S, Req, P>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, Req, P>
    where
        S: Service<Req>,
    {
        Called {
            #[pin]
            future: S::Future,
        },
        // Boxed: the wait is the rare path, and its timer, service and
        // request would otherwise make every call's future several times
        // larger (and copied that much on every call).
        Waiting {
            wait: Pin<Box<Wait<S, Req, P>>>,
        },
        Rejected {
            rejected: Option<Rejected>,
        },
    }
}

pin_project! {
    /// What a call that must wait keeps until its cells are due.
    #[project = WaitProj]
    struct Wait<S, Req, P> {
        #[pin]
        sleep: Sleep,
        svc: Option<S>,
        req: Option<Req>,
        policy: P,
        // A window's wait ends with a new decision, a GCRA's with the call.
        retry: bool,
        started: Instant,
        waiting: Option<Waiting>,
    }
}

impl<S: Service<Req>, Req, P> ResponseFuture<S, Req, P> {
    pub(crate) fn called(future: S::Future) -> Self {
        Self {
            kind: Kind::Called { future },
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> Self {
        Self {
            kind: Kind::Rejected {
                rejected: Some(rejected),
            },
        }
    }

    /// `decision` is a `WaitUntil` or a `Retry`.
    pub(crate) fn waiting(decision: Decision, svc: S, req: Req, policy: P) -> Self {
        Self {
            kind: Kind::waiting(decision, svc, req, policy, Instant::now()),
        }
    }
}

impl<S: Service<Req>, Req, P> Kind<S, Req, P> {
    fn waiting(decision: Decision, svc: S, req: Req, policy: P, started: Instant) -> Self {
        let (sleep, retry, waiting) = match decision {
            Decision::WaitUntil(at, w) => (tokio::time::sleep_until(at), false, w),
            Decision::Retry(after, w) => (tokio::time::sleep(after), true, w),
            Decision::Go => (tokio::time::sleep_until(started), false, Waiting::none()),
            Decision::Reject(rejected) => {
                return Kind::Rejected {
                    rejected: Some(rejected),
                };
            }
        };
        Kind::Waiting {
            wait: Box::pin(Wait {
                sleep,
                svc: Some(svc),
                req: Some(req),
                policy,
                retry,
                started,
                waiting: waiting.into_option(),
            }),
        }
    }
}

impl<S, Req, P> Future for ResponseFuture<S, Req, P>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    P: Policy<Req>,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        loop {
            match kind.as_mut().project() {
                KindProj::Called { future } => return future.poll(cx).map_err(Into::into),
                KindProj::Rejected { rejected } => {
                    let rejected = rejected.take().expect("polled after completion");
                    return Poll::Ready(Err(Box::new(rejected)));
                }
                KindProj::Waiting { wait } => {
                    let WaitProj {
                        sleep,
                        svc,
                        req,
                        policy,
                        retry,
                        started,
                        ..
                    } = wait.as_mut().project();
                    ready!(sleep.poll(cx));
                    let mut svc = svc.take().expect("polled after completion");
                    let req = req.take().expect("polled after completion");
                    if *retry {
                        let waited = nanos(started.elapsed());
                        match policy.decide(&req, waited) {
                            Decision::Go => {}
                            decision => {
                                let (policy, started) = (policy.clone(), *started);
                                kind.set(Kind::waiting(decision, svc, req, policy, started));
                                continue;
                            }
                        }
                    }
                    kind.set(Kind::Called {
                        future: svc.call(req),
                    });
                }
            }
        }
    }
}

impl<S: Service<Req>, Req, P> fmt::Debug for ResponseFuture<S, Req, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

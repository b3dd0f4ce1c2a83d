//! [`HttpResponseFuture`]: a limited HTTP call, a 429, or a call waiting
//! for its cells.

use super::body::RejectBody;
use super::headers::Fields;
use crate::layer::Policy;
use crate::limiter::{Decision, Waiting};
use crate::state::Usage;
use ballast_core::nanos;
use http::{Request, Response};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::time::{Instant, Sleep};
use tower_service::Service;

/// What a call that must wait keeps until its cells are due.
pub(crate) struct Wait<S, ReqB, P, M> {
    pub(crate) svc: S,
    pub(crate) req: Request<ReqB>,
    pub(crate) policy: P,
    pub(crate) fields: Arc<Fields>,
    pub(crate) body: M,
    pub(crate) usage: Option<Usage>,
}

pin_project! {
    /// The future of an [`HttpRateLimit`](super::HttpRateLimit) call.
    ///
    /// Admitted at once, it is the inner call (whose response gets the
    /// rate-limit fields if configured); refused, it is a ready 429. Made
    /// to wait (wait mode), it holds the ready inner service and the
    /// request until the cells are due; dropped while waiting, it counts
    /// the wait as over (the GCRA cells it reserved are not given back).
    pub struct HttpResponseFuture<S, ReqB, P, M>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        kind: Kind<S, ReqB, P, M>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, ReqB, P, M>
    where
        S: Service<Request<ReqB>>,
    {
        Called {
            #[pin]
            future: S::Future,
            headers: Option<(Usage, Arc<Fields>)>,
        },
        // Boxed: the wait is the rare path, and its timer, service and
        // request would otherwise make every call's future several times
        // larger (and copied that much on every call).
        Waiting {
            parked: Pin<Box<Parked<S, ReqB, P, M>>>,
        },
        Rejected {
            response: Option<S::Response>,
        },
    }
}

pin_project! {
    /// A call waiting for its cells: the timer and what the call needs.
    #[project = ParkedProj]
    struct Parked<S, ReqB, P, M> {
        #[pin]
        sleep: Sleep,
        wait: Option<Wait<S, ReqB, P, M>>,
        // A window's wait ends with a new decision, a GCRA's with the call.
        retry: bool,
        started: Instant,
        waiting: Option<Waiting>,
    }
}

impl<S: Service<Request<ReqB>>, ReqB, P, M> HttpResponseFuture<S, ReqB, P, M> {
    pub(crate) fn called(future: S::Future, headers: Option<(Usage, Arc<Fields>)>) -> Self {
        Self {
            kind: Kind::Called { future, headers },
        }
    }

    pub(crate) fn rejected(response: S::Response) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<S, ReqB, P, M, ResB> HttpResponseFuture<S, ReqB, P, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    M: RejectBody<ResB>,
{
    /// `decision` is a `WaitUntil` or a `Retry`.
    pub(crate) fn waiting(decision: Decision, wait: Wait<S, ReqB, P, M>) -> Self {
        Self {
            kind: Kind::after(decision, wait, Instant::now()),
        }
    }
}

impl<S, ReqB, P, M, ResB> Kind<S, ReqB, P, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    M: RejectBody<ResB>,
{
    /// What follows `decision` for a call that has waited since `started`.
    fn after(decision: Decision, mut wait: Wait<S, ReqB, P, M>, started: Instant) -> Self {
        let (sleep, retry, waiting) = match decision {
            Decision::WaitUntil(at, w) => (tokio::time::sleep_until(at), false, w),
            Decision::Retry(after, w) => (tokio::time::sleep(after), true, w),
            Decision::Go => {
                let headers = match (wait.usage, wait.fields.on_admitted()) {
                    (Some(usage), true) => Some((usage, wait.fields)),
                    _ => None,
                };
                return Kind::Called {
                    future: wait.svc.call(wait.req),
                    headers,
                };
            }
            Decision::Reject(rejected) => {
                let body = wait.body.body(&rejected);
                let res = wait.fields.refusal(body, &rejected, wait.usage);
                return Kind::Rejected {
                    response: Some(res),
                };
            }
        };
        Kind::Waiting {
            parked: Box::pin(Parked {
                sleep,
                wait: Some(wait),
                retry,
                started,
                waiting: waiting.into_option(),
            }),
        }
    }
}

impl<S, ReqB, P, M, ResB> Future for HttpResponseFuture<S, ReqB, P, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    P: Policy<Request<ReqB>>,
    M: RejectBody<ResB>,
{
    type Output = Result<Response<ResB>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        loop {
            match kind.as_mut().project() {
                KindProj::Called { future, headers } => {
                    let mut res = ready!(future.poll(cx))?;
                    if let Some((usage, fields)) = headers.take() {
                        fields.write(res.headers_mut(), usage);
                    }
                    return Poll::Ready(Ok(res));
                }
                KindProj::Rejected { response } => {
                    let res = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(res));
                }
                KindProj::Waiting { parked } => {
                    let ParkedProj {
                        sleep,
                        wait,
                        retry,
                        started,
                        ..
                    } = parked.as_mut().project();
                    ready!(sleep.poll(cx));
                    let mut w = wait.take().expect("polled after completion");
                    let decision = if *retry {
                        let waited = nanos(started.elapsed());
                        let (decision, usage) =
                            w.policy
                                .decide_usage(&w.req, waited, w.fields.on_admitted());
                        w.usage = usage;
                        decision
                    } else {
                        Decision::Go
                    };
                    let started = *started;
                    kind.set(Kind::after(decision, w, started));
                }
            }
        }
    }
}

impl<S: Service<Request<ReqB>>, ReqB, P, M> fmt::Debug for HttpResponseFuture<S, ReqB, P, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HttpResponseFuture")
    }
}

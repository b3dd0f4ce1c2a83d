//! [`ResponseFuture`]: a call behind the bulkhead, waiting or running.

use crate::bulkhead::Shared;
use crate::permit::{Permit, Wait};
use crate::service::BoxError;
use ballast_core::Rejected;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tower_service::Service;

pin_project! {
    /// The future of a [`FixedBulkhead`](crate::FixedBulkhead) call. It
    /// holds the call's permit (or its place in the queue), so dropping it
    /// at any point gives that back.
    pub struct ResponseFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req>
    where
        S: Service<Req>,
    {
        Waiting {
            wait: Wait<Arc<Shared>>,
            // The inner service, already ready, and the request, taken
            // when the permit comes.
            call: Option<(S, Req)>,
        },
        Running {
            #[pin]
            fut: S::Future,
            permit: Permit<Arc<Shared>>,
        },
        Rejected {
            rejected: Option<Rejected>,
        },
    }
}

impl<S: Service<Req>, Req> ResponseFuture<S, Req> {
    pub(crate) fn running(fut: S::Future, permit: Permit<Arc<Shared>>) -> Self {
        Self {
            state: State::Running { fut, permit },
        }
    }

    pub(crate) fn waiting(wait: Wait<Arc<Shared>>, svc: S, req: Req) -> Self {
        Self {
            state: State::Waiting {
                wait,
                call: Some((svc, req)),
            },
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> Self {
        Self {
            state: State::Rejected {
                rejected: Some(rejected),
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
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Running { fut, .. } => {
                    return fut.poll(cx).map_err(Into::into);
                }
                StateProj::Rejected { rejected } => {
                    let r = rejected.take().expect("polled after completion");
                    return Poll::Ready(Err(Box::new(r)));
                }
                StateProj::Waiting { wait, call } => {
                    let permit = match ready!(Pin::new(wait).poll(cx)) {
                        Ok(permit) => permit,
                        Err(r) => {
                            state.set(State::Rejected { rejected: None });
                            return Poll::Ready(Err(Box::new(r)));
                        }
                    };
                    let (mut svc, req) = call.take().expect("polled after completion");
                    let fut = svc.call(req);
                    state.set(State::Running { fut, permit });
                }
            }
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ResponseFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

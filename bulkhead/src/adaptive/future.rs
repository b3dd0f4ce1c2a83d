//! [`ResponseFuture`]: a call behind the adaptive limit.

use super::handle::Shared;
use super::permit::Held;
use crate::service::BoxError;
use ballast_core::Rejected;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pin_project! {
    /// The future of an [`Adaptive`](super::Adaptive) call. It holds the
    /// call's permit: finishing records the round trip (an `Err` as a drop)
    /// and gives the permit back; dropping it first gives the permit back
    /// and records nothing.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running {
            #[pin]
            fut: F,
            permit: Option<Held<Arc<Shared>>>,
        },
        Rejected {
            rejected: Option<Rejected>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn running(fut: F, permit: Held<Arc<Shared>>) -> Self {
        Self {
            state: State::Running {
                fut,
                permit: Some(permit),
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

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running { fut, permit } => {
                let out = std::task::ready!(fut.poll(cx));
                if let Some(permit) = permit.take() {
                    permit.finish(out.is_err());
                }
                Poll::Ready(out.map_err(Into::into))
            }
            StateProj::Rejected { rejected } => {
                let r = rejected.take().expect("polled after completion");
                Poll::Ready(Err(Box::new(r)))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

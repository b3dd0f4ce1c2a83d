//! [`Guarded`]: the inside of a response future that either refuses at
//! once or runs the inner future while holding a guard (a permit) that is
//! dropped with it. The shedder's and the partitioned bulkhead's futures
//! wrap it; neither ever waits.

use crate::service::BoxError;
use ballast_core::Rejected;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    #[project = GuardedProj]
    pub(crate) enum Guarded<F, G> {
        Running {
            #[pin]
            fut: F,
            // Held, never read: dropping it gives the permit back.
            _guard: G,
        },
        Refused {
            rejected: Option<Rejected>,
        },
    }
}

impl<F, G> Guarded<F, G> {
    pub(crate) fn running(fut: F, guard: G) -> Self {
        Guarded::Running { fut, _guard: guard }
    }

    pub(crate) fn refused(rejected: Rejected) -> Self {
        Guarded::Refused {
            rejected: Some(rejected),
        }
    }
}

impl<F, G, T, E> Future for Guarded<F, G>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardedProj::Running { fut, .. } => fut.poll(cx).map_err(Into::into),
            GuardedProj::Refused { rejected } => {
                let r = rejected.take().expect("polled after completion");
                Poll::Ready(Err(Box::new(r)))
            }
        }
    }
}

//! [`ResponseFuture`]: holds the call's permit until it completes.

use crate::classify::{Classifier, Outcome};
use crate::permit::Guard;
use crate::service::{BoxError, Local};
use ballast_core::{Reason, Rejected};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

pin_project! {
    /// The future of a [`CircuitBreaker`](crate::CircuitBreaker) call.
    ///
    /// It holds the call's permit: on completion the result is classified
    /// and recorded; dropped before completion, it records a cancellation
    /// and gives back a half-open probe slot.
    pub struct ResponseFuture<F, C> {
        #[pin]
        kind: Kind<F, C>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C> {
        Called {
            #[pin]
            future: F,
            guard: Option<Guard<Arc<Local<C>>>>,
        },
        Rejected {
            rejected: Option<Rejected>,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn called(future: F, guard: Guard<Arc<Local<C>>>) -> Self {
        Self {
            kind: Kind::Called {
                future,
                guard: Some(guard),
            },
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> Self {
        Self {
            kind: Kind::Rejected {
                rejected: Some(rejected),
            },
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classifier<T, E>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called { future, guard } => {
                // If the inner future panics, the caller may catch the
                // unwind and drop this future later, when the thread no
                // longer looks like it is panicking: record the failure now.
                let on_panic = FailOnPanic { guard: Some(guard) };
                let poll = future.poll(cx);
                let guard = on_panic.disarm();
                let result = ready!(poll);
                // Finished in place (see `Guard::finish`); the guard's drop,
                // with the future's, then only releases the `Arc`.
                let Some(guard) = guard else {
                    return Poll::Ready(result.map_err(Into::into));
                };
                let outcome = guard.holder().classifier.classify(&result);
                let result = result.map_err(Into::into);
                guard.finish(match &result {
                    Err(e) if outcome == Outcome::Failure && refused_below(e) => Outcome::Ignore,
                    _ => outcome,
                });
                Poll::Ready(result)
            }
            KindProj::Rejected { rejected } => Poll::Ready(Err(Box::new(
                rejected.take().expect("polled after completion"),
            ))),
        }
    }
}

/// True when `error` is a ballast layer below refusing the call before it
/// reached the dependency (a full bulkhead, a rate limit, another
/// breaker): that says nothing of the dependency's health,
/// so it is not counted as a failure, whatever the classifier says. A
/// passed deadline still counts: a timeout below the breaker cut a call
/// that the dependency was too slow to answer.
#[inline]
fn refused_below(error: &BoxError) -> bool {
    error
        .downcast_ref::<Rejected>()
        .is_some_and(|r| r.reason() != Reason::DeadlineExceeded)
}

/// Records a failure if dropped before `disarm`, which happens only when
/// the inner future's `poll` unwinds.
struct FailOnPanic<'a, C> {
    guard: Option<&'a mut Option<Guard<Arc<Local<C>>>>>,
}

impl<'a, C> FailOnPanic<'a, C> {
    fn disarm(mut self) -> &'a mut Option<Guard<Arc<Local<C>>>> {
        self.guard.take().expect("armed until disarmed")
    }
}

impl<C> Drop for FailOnPanic<'_, C> {
    #[inline]
    fn drop(&mut self) {
        if let Some(Some(guard)) = self.guard.as_mut().map(|g| g.as_mut()) {
            guard.finish(Outcome::Failure);
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

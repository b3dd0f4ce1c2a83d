//! [`ResponseFuture`]: holds the call's permit until it completes.

use crate::classify::{Classifier, Outcome};
use crate::permit::{Guard, Holder};
use crate::service::{BoxError, Local};
use crate::sync::CachePadded;
use ballast_core::{Reason, Rejected};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

pin_project! {
    /// The future of a [`CircuitBreaker`](crate::CircuitBreaker) call.
    ///
    /// It holds the call's permit: on completion the result is classified
    /// and recorded; dropped before completion, it records a cancellation
    /// and gives back a half-open probe slot.
    ///
    /// `H` is what it holds of the breaker and the classifier: the
    /// service's shared `Local` for a [`CircuitBreaker`](crate::CircuitBreaker),
    /// the key's breaker and a copy of the classifier for a
    /// [`KeyedCircuitBreaker`](crate::keyed::KeyedCircuitBreaker).
    pub struct ResponseFuture<F, C, H: Holder = Arc<CachePadded<Local<C>>>> {
        #[pin]
        kind: Kind<F, H>,
        _classifier: PhantomData<fn() -> C>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, H: Holder> {
        Called {
            #[pin]
            future: F,
            guard: Option<Guard<H>>,
        },
        Rejected {
            rejected: Option<Rejected>,
        },
    }
}

/// What an admitted call's future holds: the way to its breaker (a
/// [`Holder`]) and its classifier. Public in a private module: it bounds
/// [`ResponseFuture`]'s `Future` impl, but no one outside the crate can
/// name or implement it.
pub trait CallHolder<C>: Holder {
    /// The classifier the call's result goes through.
    fn classifier(&self) -> &C;
}

impl<C> CallHolder<C> for Arc<CachePadded<Local<C>>> {
    #[inline]
    fn classifier(&self) -> &C {
        &self.classifier
    }
}

impl<F, C, H: Holder> ResponseFuture<F, C, H> {
    pub(crate) fn called(future: F, guard: Guard<H>) -> Self {
        Self {
            kind: Kind::Called {
                future,
                guard: Some(guard),
            },
            _classifier: PhantomData,
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> Self {
        Self {
            kind: Kind::Rejected {
                rejected: Some(rejected),
            },
            _classifier: PhantomData,
        }
    }
}

impl<F, C, H, T, E> Future for ResponseFuture<F, C, H>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classifier<T, E>,
    H: CallHolder<C>,
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
                let outcome = guard.holder().classifier().classify(&result);
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
struct FailOnPanic<'a, H: Holder> {
    guard: Option<&'a mut Option<Guard<H>>>,
}

impl<'a, H: Holder> FailOnPanic<'a, H> {
    fn disarm(mut self) -> &'a mut Option<Guard<H>> {
        self.guard.take().expect("armed until disarmed")
    }
}

impl<H: Holder> Drop for FailOnPanic<'_, H> {
    #[inline]
    fn drop(&mut self) {
        if let Some(Some(guard)) = self.guard.as_mut().map(|g| g.as_mut()) {
            guard.finish(Outcome::Failure);
        }
    }
}

impl<F, C, H: Holder> fmt::Debug for ResponseFuture<F, C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

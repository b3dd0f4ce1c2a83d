//! [`ResponseFuture`]: the inner call, raced against its deadline.

use crate::deadline::Scoped;
use crate::service::BoxError;
use ballast_core::{Reason, Rejected};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::time::{Instant, Sleep};

/// What a bounded call reports its outcome to: the layer's series with
/// feature `metrics`, nothing without.
#[cfg(feature = "metrics")]
pub(crate) type Tally = std::sync::Arc<crate::export::Export>;
/// What a bounded call reports its outcome to: nothing without feature
/// `metrics`.
#[cfg(not(feature = "metrics"))]
pub(crate) type Tally = ();

/// The error of a call that ran out of time.
pub(crate) fn deadline_exceeded() -> Rejected {
    Rejected::retry_later(Reason::DeadlineExceeded)
}

pin_project! {
    /// The future of a [`Timeout`](crate::Timeout) call.
    ///
    /// Dropping it drops the inner call's future, which cancels its work.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        // A call with a deadline. The timer is made only when the inner
        // future first returns `Pending`: a call that completes on its
        // first poll never touches the timer.
        Bounded {
            #[pin]
            future: Scoped<F>,
            #[pin]
            sleep: Option<Sleep>,
            // When the call started, for the budget in the trace (read only
            // if it times out).
            start: Instant,
            tally: Tally,
        },
        // No timeout and no deadline: nothing to enforce.
        Unbounded {
            #[pin]
            future: F,
        },
        // The deadline had passed before the call: the inner service was
        // never called.
        Refused {
            // Keeps pin-project-lite's struct-variant form.
            _refused: (),
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn bounded(future: Scoped<F>, start: Instant, tally: Tally) -> Self {
        Self {
            kind: Kind::Bounded {
                future,
                sleep: None,
                start,
                tally,
            },
        }
    }

    pub(crate) fn unbounded(future: F) -> Self {
        Self {
            kind: Kind::Unbounded { future },
        }
    }

    pub(crate) fn refused() -> Self {
        Self {
            kind: Kind::Refused { _refused: () },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Bounded {
                future,
                mut sleep,
                start,
                tally,
            } => {
                let deadline = future.deadline();
                if let Poll::Ready(result) = future.poll(cx) {
                    #[cfg(feature = "metrics")]
                    tally.within();
                    return Poll::Ready(result.map_err(Into::into));
                }
                if sleep.is_none() {
                    sleep.set(Some(tokio::time::sleep_until(deadline.instant())));
                }
                if let Some(sleep) = sleep.as_pin_mut() {
                    ready!(sleep.poll(cx));
                }
                tracing::debug!(
                    budget = ?deadline.instant().saturating_duration_since(*start),
                    "deadline passed; call cancelled"
                );
                #[cfg(feature = "metrics")]
                tally.exceeded();
                #[cfg(not(feature = "metrics"))]
                let () = tally;
                Poll::Ready(Err(Box::new(deadline_exceeded())))
            }
            KindProj::Unbounded { future } => future.poll(cx).map_err(Into::into),
            KindProj::Refused { .. } => Poll::Ready(Err(Box::new(deadline_exceeded()))),
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

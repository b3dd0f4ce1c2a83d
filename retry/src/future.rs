//! [`ResponseFuture`]: a call's attempts and the waits between them.

use crate::classify::{Classifier, CloneRequest};
use crate::holder::Holder;
use crate::plan::{Next, Tracker};
use crate::rare::Rare;
use crate::service::{BoxError, Local};
use ballast_core::saturating_add;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::time::{Instant, Sleep, sleep_until};
use tower_service::Service;

pin_project! {
    /// The future of a [`Retry`](crate::Retry) call.
    ///
    /// It resolves to the first result that is not retried: a success, a
    /// failure the classifier does not call transient, or the last
    /// attempt's own outcome when no further attempt is allowed (attempts
    /// used up, budget spent, deadline or total time too close, request
    /// not cloneable).
    ///
    /// Dropping it cancels whatever is in progress: the attempt (its
    /// future is dropped) or the backoff (its timer is dropped); no retry
    /// follows.
    ///
    /// `H` is what it holds of the policy (see [`Retry`](crate::Retry)).
    pub struct ResponseFuture<F, S, Req, C, K, H = Arc<Local<C, K>>> {
        // First, so it is dropped first: an `Arc`'s locked decrement
        // waits for the stores ahead of it to drain, and dropping the
        // other fields makes some.
        local: H,
        #[pin]
        state: State<F>,
        // The service retries are made on (polled ready before each).
        service: S,
        // The copy of the request the next attempt sends; `None` when it
        // cannot be copied.
        spare: Option<Req>,
        tracker: Tracker,
        // The backoff timer: made at the first retry and reset for the
        // next ones, so only calls that retry pay for a timer, and the
        // future of a call that succeeds stays small and drops in a few
        // instructions.
        sleep: Rare<Pin<Box<Sleep>>>,
        _classifier: PhantomData<fn() -> (C, K)>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called {
            #[pin]
            future: F,
        },
        // Waiting out the backoff in `sleep`.
        Waiting {
            // Keeps pin-project-lite's struct-variant form.
            _waiting: (),
        },
        Readying {
            _readying: (),
        },
    }
}

impl<F, S, Req, C, K, H> ResponseFuture<F, S, Req, C, K, H> {
    #[inline]
    pub(crate) fn new(
        future: F,
        service: S,
        spare: Option<Req>,
        local: H,
        tracker: Tracker,
    ) -> Self {
        Self {
            state: State::Called { future },
            service,
            spare,
            local,
            tracker,
            sleep: Rare::none(),
            _classifier: PhantomData,
        }
    }
}

impl<F, S, Req, C, K, H> Future for ResponseFuture<F, S, Req, C, K, H>
where
    S: Service<Req, Future = F>,
    F: Future<Output = Result<S::Response, S::Error>>,
    S::Error: Into<BoxError>,
    C: Classifier<S::Response, S::Error>,
    K: CloneRequest<Req>,
    H: Holder<C, K>,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Called { future } => {
                    let result = ready!(future.poll(cx));
                    let can_clone = this.spare.is_some();
                    match this.tracker.after(this.local.shared(), &result, can_clone) {
                        // Stopping hands back the last attempt's outcome.
                        Next::Return | Next::Stop(_) => {
                            return Poll::Ready(result.map_err(Into::into));
                        }
                        Next::Retry(delay) if delay.is_zero() => {
                            this.state.set(State::Readying { _readying: () });
                        }
                        Next::Retry(delay) => {
                            let until = saturating_add(Instant::now(), delay);
                            match &mut this.sleep.0 {
                                Some(sleep) => sleep.as_mut().reset(until),
                                None => this.sleep.0 = Some(Box::pin(sleep_until(until))),
                            }
                            this.state.set(State::Waiting { _waiting: () });
                        }
                    }
                }
                StateProj::Waiting { .. } => {
                    let sleep = this
                        .sleep
                        .0
                        .as_mut()
                        .expect("a wait is planned only with its timer set");
                    ready!(sleep.as_mut().poll(cx));
                    this.state.set(State::Readying { _readying: () });
                }
                StateProj::Readying { .. } => {
                    ready!(this.service.poll_ready(cx)).map_err(Into::into)?;
                    let req = this
                        .spare
                        .take()
                        .expect("a retry is planned only with a spare request");
                    *this.spare = this.local.cloner().clone_request(&req);
                    this.tracker.attempt_starting(this.local.shared());
                    let future = this.service.call(req);
                    this.state.set(State::Called { future });
                }
            }
        }
    }
}

impl<F, S, Req, C, K, H> fmt::Debug for ResponseFuture<F, S, Req, C, K, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("attempt", &self.tracker.attempt())
            .finish_non_exhaustive()
    }
}

//! [`ResponseFuture`]: a call's attempts and the waits between them.

use crate::classify::{Action, Classifier, CloneRequest};
use crate::plan::{Next, Tracker};
use crate::policy::Shared;
use crate::rare::Rare;
use crate::refusal;
use crate::service::{BoxError, Local};
use crate::sync::CachePadded;
use ballast_core::saturating_add;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep, sleep_until};
use tower_service::Service;

pin_project! {
    /// The future of a [`Retry`](crate::Retry) call.
    ///
    /// It resolves to the first result that is not retried: a success, a
    /// failure the classifier does not call transient, or the last
    /// attempt's own outcome when no further attempt is allowed (attempts
    /// used up, budget spent, deadline or total time too close, request
    /// not cloneable). When the call ends on a refusal from a layer below
    /// (a ballast [`Rejected`](ballast_core::Rejected)) after an attempt
    /// that was not refused, it resolves to that attempt's outcome.
    ///
    /// Dropping it cancels whatever is in progress: the attempt (its
    /// future is dropped) or the backoff (its timer is dropped); no retry
    /// follows.
    ///
    pub struct ResponseFuture<F, S, Req, C, K>
    where
        F: Future,
        F::Output: Answer,
    {
        // First, so it is dropped first: an `Arc`'s locked decrement
        // waits for the stores ahead of it to drain, and dropping the
        // other fields makes some.
        local: Arc<CachePadded<Local<C, K>>>,
        #[pin]
        state: State<F>,
        // The service retries are made on (polled ready before each).
        service: S,
        // The copy of the request the next attempt sends; `None` when it
        // cannot be copied.
        spare: Option<Req>,
        tracker: Tracker,
        // The backoff timer and the latest real outcome: made at the first
        // retry, so only calls that retry pay for them, and the future of
        // a call that succeeds stays small and drops in a few
        // instructions.
        retrying: Rare<Box<Retrying<<F::Output as Answer>::Ok>>>,
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
        // Waiting out the backoff in `retrying`'s timer.
        Waiting {
            // Keeps pin-project-lite's struct-variant form.
            _waiting: (),
        },
        Readying {
            _readying: (),
        },
    }
}

impl<F: Future<Output: Answer>, S, Req, C, K> ResponseFuture<F, S, Req, C, K> {
    #[inline]
    pub(crate) fn new(
        future: F,
        service: S,
        spare: Option<Req>,
        local: Arc<CachePadded<Local<C, K>>>,
        tracker: Tracker,
    ) -> Self {
        Self {
            state: State::Called { future },
            service,
            spare,
            local,
            tracker,
            retrying: Rare::none(),
            _classifier: PhantomData,
        }
    }
}

impl<F, S, Req, C, K> Future for ResponseFuture<F, S, Req, C, K>
where
    S: Service<Req, Future = F>,
    F: Future<Output = Result<S::Response, S::Error>>,
    S::Error: Into<BoxError>,
    C: Classifier<S::Response, S::Error>,
    K: CloneRequest<Req>,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Called { future } => {
                    let result = ready!(future.poll(cx));
                    let shared = this.local.shared();
                    let action = shared.classifier.classify(&result);
                    // The common case: a success returned as it is (a
                    // success is never a refusal, so no earlier outcome is
                    // preferred to it; and testing the result the
                    // classifier just tested costs nothing).
                    if action == Action::Return && result.is_ok() {
                        #[cfg(feature = "metrics")]
                        shared.export.returned(true);
                        return Poll::Ready(result.map_err(Into::into));
                    }
                    let can_clone = this.spare.is_some();
                    let delay = match settle(
                        this.tracker,
                        shared,
                        this.retrying,
                        action,
                        result,
                        can_clone,
                    ) {
                        Ok(delay) => delay,
                        Err(outcome) => return Poll::Ready(outcome),
                    };
                    if delay.is_zero() {
                        this.state.set(State::Readying { _readying: () });
                    } else {
                        let until = saturating_add(Instant::now(), delay);
                        let retrying = this.retrying.0.get_or_insert_with(Box::default);
                        match &mut retrying.sleep {
                            Some(sleep) => sleep.as_mut().reset(until),
                            None => retrying.sleep = Some(Box::pin(sleep_until(until))),
                        }
                        this.state.set(State::Waiting { _waiting: () });
                    }
                }
                StateProj::Waiting { .. } => {
                    let sleep = this
                        .retrying
                        .0
                        .as_mut()
                        .and_then(|r| r.sleep.as_mut())
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
                    *this.spare = this.local.cloner.clone_request(&req);
                    this.tracker.attempt_starting(this.local.shared());
                    let future = this.service.call(req);
                    this.state.set(State::Called { future });
                }
            }
        }
    }
}

/// What an attempt's future gives: a `Result`, whose success type the
/// future keeps (a projection of `F`, not of the service: a projection of
/// `S: Service<Req>` would make the future's `Send` depend on `S` serving
/// every lifetime of `Req`). Public in a private module: it appears in
/// [`ResponseFuture`]'s bounds, but no one outside the crate can name it.
pub trait Answer {
    /// The success type.
    type Ok;
}

impl<T, E> Answer for Result<T, E> {
    type Ok = T;
}

/// What follows an attempt whose `result` the classifier called `action`,
/// when it is not simply returned: `Ok(delay)` to retry after `delay`, or
/// `Err` with the outcome the call ends with (this one, or, if this one
/// is a refusal from a layer below, the latest one that was not). Out of
/// line: only calls that fail or retry come here.
#[inline(never)]
fn settle<C, T, E: Into<BoxError>>(
    tracker: &mut Tracker,
    shared: &Shared<C>,
    retrying: &mut Rare<Box<Retrying<T>>>,
    action: Action,
    result: Result<T, E>,
    can_clone: bool,
) -> Result<Duration, Result<T, BoxError>> {
    let result = result.map_err(Into::into);
    let refusal = match &result {
        Ok(_) => None,
        Err(e) => refusal::in_error(&**e),
    };
    let refused = refusal.is_some();
    let next = tracker.after(shared, action, refusal, can_clone);
    let Next::Retry(delay) = next else {
        let last_real = retrying.0.as_mut().and_then(|r| r.last_real.take());
        let outcome = match last_real {
            Some(real) if refused => real,
            _ => result,
        };
        // A give-up was counted when the tracker stopped.
        #[cfg(feature = "metrics")]
        if next == Next::Return {
            shared.export.returned(outcome.is_ok());
        }
        return Err(outcome);
    };
    let retrying = retrying.0.get_or_insert_with(Box::default);
    if !refused {
        retrying.last_real = Some(result);
    }
    Ok(delay)
}

/// What a call keeps once it retries.
struct Retrying<T> {
    /// The backoff timer, made at the first wait and reset for the next.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The latest outcome that was not a refusal from a layer below: what
    /// the call ends with if a later attempt is refused and no retry
    /// follows.
    last_real: Option<Result<T, BoxError>>,
}

impl<T> Default for Retrying<T> {
    fn default() -> Self {
        Self {
            sleep: None,
            last_real: None,
        }
    }
}

impl<F: Future<Output: Answer>, S, Req, C, K> fmt::Debug for ResponseFuture<F, S, Req, C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("attempt", &self.tracker.attempt())
            .finish_non_exhaustive()
    }
}

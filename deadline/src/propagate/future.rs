//! [`ReceiveFuture`]: the handler's work, raced against the request's
//! deadline.

use super::refusal::deadline_exceeded;
use super::span::{OUTCOME, TIME_USED_US, micros};
use crate::deadline::{Deadline, Scoped};
use http::Response;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::time::{Instant, Sleep};
use tracing::Span;

pin_project! {
    /// The future of a [`ReceiveDeadline`](super::ReceiveDeadline) call.
    ///
    /// When the deadline passes first, the handler's future is dropped at
    /// once (cancelling its work) and the call answers
    /// `DEADLINE_EXCEEDED`. Dropping this future drops the handler's too.
    pub struct ReceiveFuture<F, B> {
        #[pin]
        state: State<F, B>,
        // The request's `deadline.hop` span, entered on every poll.
        span: Span,
        // When the request arrived, for `time_used_us`.
        start: Instant,
    }

    impl<F, B> PinnedDrop for ReceiveFuture<F, B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let StateProj::Bounded { .. } | StateProj::Unbounded { .. } = this.state.project() {
                this.span.record(OUTCOME, "dropped");
                this.span.record(TIME_USED_US, micros(this.start.elapsed()));
            }
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        // The handler runs under the deadline, with a timer for it.
        Bounded {
            #[pin]
            future: Scoped<F>,
            #[pin]
            sleep: Sleep,
            grpc: bool,
        },
        // No deadline at all: the handler runs as it is.
        Unbounded {
            #[pin]
            future: F,
        },
        // Answered without calling the handler.
        Refused {
            response: Option<Response<B>>,
        },
        // The output was returned and the handler dropped.
        Done {
            _done: (),
        },
    }
}

impl<F, B> ReceiveFuture<F, B> {
    pub(crate) fn bounded(
        future: Scoped<F>,
        deadline: Deadline,
        grpc: bool,
        span: Span,
        start: Instant,
    ) -> Self {
        let sleep = tokio::time::sleep_until(deadline.instant());
        let state = State::Bounded {
            future,
            sleep,
            grpc,
        };
        ReceiveFuture { state, span, start }
    }

    pub(crate) fn unbounded(future: F, span: Span, start: Instant) -> Self {
        let state = State::Unbounded { future };
        ReceiveFuture { state, span, start }
    }

    pub(crate) fn refused(response: Response<B>, span: Span, start: Instant) -> Self {
        let state = State::Refused {
            response: Some(response),
        };
        ReceiveFuture { state, span, start }
    }
}

impl<F, B, E> Future for ReceiveFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _enter = this.span.enter();
        let output = match this.state.as_mut().project() {
            StateProj::Bounded {
                future,
                sleep,
                grpc,
            } => match future.poll(cx) {
                Poll::Ready(output) => {
                    this.span.record(OUTCOME, "ok");
                    output
                }
                Poll::Pending => {
                    ready!(sleep.poll(cx));
                    this.span.record(OUTCOME, "cancelled");
                    tracing::debug!("deadline passed; handler cancelled");
                    Ok(deadline_exceeded(*grpc))
                }
            },
            StateProj::Unbounded { future } => {
                let output = ready!(future.poll(cx));
                this.span.record(OUTCOME, "ok");
                output
            }
            StateProj::Refused { response } => match response.take() {
                Some(response) => Ok(response),
                None => panic!("`ReceiveFuture` polled after completion"),
            },
            StateProj::Done { .. } => panic!("`ReceiveFuture` polled after completion"),
        };
        this.span.record(TIME_USED_US, micros(this.start.elapsed()));
        // Drops the handler's future now (inside its deadline's scope).
        this.state.set(State::Done { _done: () });
        Poll::Ready(output)
    }
}

impl<F, B> fmt::Debug for ReceiveFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReceiveFuture")
    }
}

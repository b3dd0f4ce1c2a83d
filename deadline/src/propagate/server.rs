//! [`ReceiveDeadline`]: reads the caller's budget from incoming requests
//! and holds the handler to it.

use super::config::ReceiveConfig;
use super::future::ReceiveFuture;
use super::refusal::{deadline_exceeded, is_grpc, malformed};
use super::span::{BUDGET_RECEIVED_US, OUTCOME, hop_span, micros};
use crate::carrier::DeadlineCarrier;
use crate::codec::{DecodeError, GRPC_TIMEOUT, decode_grpc_timeout, decode_timeout_millis};
use crate::deadline::Deadline;
use http::{Request, Response};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

/// A tower layer for servers that gives each request the deadline its
/// caller sent; makes [`ReceiveDeadline`] services.
#[derive(Debug, Clone, Default)]
pub struct ReceiveDeadlineLayer {
    config: ReceiveConfig,
}

impl ReceiveDeadlineLayer {
    /// A layer with `config`.
    pub fn new(config: ReceiveConfig) -> Self {
        ReceiveDeadlineLayer { config }
    }
}

impl<S> Layer<S> for ReceiveDeadlineLayer {
    type Service = ReceiveDeadline<S>;

    fn layer(&self, inner: S) -> ReceiveDeadline<S> {
        ReceiveDeadline::new(inner, self.config.clone())
    }
}

/// A server service that reads the budget a caller sent (`grpc-timeout`
/// and/or a header of milliseconds, see [`ReceiveConfig`]) into the
/// request's deadline and holds the handler to it.
///
/// - The deadline is the earliest of the budget received (counted from
///   arrival, on this host's clock), the deadline the request already
///   carries and the task's [`Deadline::current`]. It goes into the
///   request's extensions ([`DeadlineCarrier`]) and the handler runs inside
///   [`Deadline::scope`], so a [`SendDeadline`](super::SendDeadline) in the
///   handler's own clients passes the rest on.
/// - A request that arrives with no budget left is refused without calling
///   the handler; a handler still running when the deadline passes is
///   dropped, which cancels its work. Both are answered with 504 Gateway
///   Timeout, or for gRPC requests (content-type `application/grpc`) with
///   200 and `grpc-status: 4` (`DEADLINE_EXCEEDED`).
/// - A malformed header is answered with 400 and the reason in the
///   [`x-deadline-error`](super::DEADLINE_ERROR_HEADER) header, or for gRPC
///   with `grpc-status: 3` (`INVALID_ARGUMENT`) and the reason in
///   `grpc-message`. It never panics.
///
/// The responses it makes itself have an empty body: `ResBody::default()`.
/// So the response body must implement `Default`, as `axum::body::Body`,
/// `http_body_util::{Empty, Full}` and tonic's body do. The inner service's
/// error type passes through unchanged (it may be `Infallible`, as axum
/// requires).
///
/// Each request runs in a [`deadline.hop`](super#tracing) span.
#[derive(Debug, Clone)]
pub struct ReceiveDeadline<S> {
    inner: S,
    config: ReceiveConfig,
}

impl<S> ReceiveDeadline<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, config: ReceiveConfig) -> Self {
        ReceiveDeadline { inner, config }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The budget the request's headers give, the earlier one if both
    /// formats are sent, capped by `max_budget`.
    fn budget<B>(&self, req: &Request<B>) -> Result<Option<Duration>, DecodeError> {
        let headers = req.headers();
        let grpc = match headers.get(GRPC_TIMEOUT).filter(|_| self.config.grpc) {
            Some(v) => Some(decode_grpc_timeout(v.as_bytes())?),
            None => None,
        };
        let millis = match self.config.millis.as_ref().and_then(|h| headers.get(h)) {
            Some(v) => Some(decode_timeout_millis(v.as_bytes())?),
            None => None,
        };
        let budget = match (grpc, millis) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(match (budget, self.config.max_budget) {
            (Some(b), Some(max)) => Some(b.min(max)),
            (b, _) => b,
        })
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for ReceiveDeadline<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ReceiveFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let now = Instant::now();
        let span = hop_span();
        let grpc = is_grpc(&req);
        let budget = match self.budget(&req) {
            Ok(budget) => budget,
            Err(e) => {
                span.record(OUTCOME, "malformed");
                span.in_scope(|| tracing::debug!(error = %e, "timeout header refused"));
                return ReceiveFuture::refused(malformed(grpc, &e.to_string()), span, now);
            }
        };
        if let Some(budget) = budget {
            span.record(BUDGET_RECEIVED_US, micros(budget));
        }
        let received = budget.map(|b| Deadline::after_from(now, b));
        let deadline = [received, req.deadline(), Deadline::current()]
            .into_iter()
            .flatten()
            .min();
        let Some(deadline) = deadline else {
            let future = span.in_scope(|| self.inner.call(req));
            return ReceiveFuture::unbounded(future, span, now);
        };
        if deadline.is_expired_at(now) {
            span.record(OUTCOME, "expired_on_arrival");
            span.in_scope(|| tracing::debug!("request arrived with no budget left; refused"));
            return ReceiveFuture::refused(deadline_exceeded(grpc), span, now);
        }
        req.set_deadline(deadline);
        // The earliest of all three, so no later than the current one. It is
        // current around `call` too, for layers below that plan in `call`.
        let future = span.in_scope(|| deadline.in_scope_exact(|| self.inner.call(req)));
        let future = deadline.scope_exact(future);
        ReceiveFuture::bounded(future, deadline, grpc, span, now)
    }
}

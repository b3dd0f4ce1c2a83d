//! [`SendDeadline`]: writes the caller's remaining budget into outgoing
//! requests.

use super::config::SendConfig;
use super::span::{BUDGET_PASSED_ON_US, micros};
use crate::carrier::DeadlineCarrier;
use crate::codec::{
    GRPC_TIMEOUT, decode_grpc_timeout, decode_timeout_millis, encode_grpc_timeout,
    encode_timeout_millis,
};
use crate::deadline::Deadline;
use crate::future::ResponseFuture;
use crate::service::BoxError;
use http::{HeaderMap, HeaderValue, Request};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

/// A tower layer that sends each request's remaining budget to the callee;
/// makes [`SendDeadline`] services.
#[derive(Debug, Clone, Default)]
pub struct SendDeadlineLayer {
    config: SendConfig,
}

impl SendDeadlineLayer {
    /// A layer with `config`.
    pub fn new(config: SendConfig) -> Self {
        SendDeadlineLayer { config }
    }
}

impl<S> Layer<S> for SendDeadlineLayer {
    type Service = SendDeadline<S>;

    fn layer(&self, inner: S) -> SendDeadline<S> {
        SendDeadline::new(inner, self.config.clone())
    }
}

/// A client service that writes the remaining time of each request's
/// deadline, less a margin for the network, into the request's headers.
///
/// The deadline is the earlier of the one the request carries
/// ([`DeadlineCarrier`], in its extensions) and the task's
/// [`Deadline::current`]; a request with neither goes out unchanged. The
/// budget is written as `grpc-timeout` and/or a header of milliseconds
/// (see [`SendConfig`]), both rounded down ([`codec`](crate::codec)), and
/// never longer than a timeout the request already carries in one of
/// those headers (tonic's `Request::set_timeout` writes `grpc-timeout`):
/// the earlier of the two goes out. It is
/// recorded as `budget_passed_on_us` in the current
/// [`deadline.hop`](super#tracing) span.
///
/// A request with no budget left after the margin is refused without being
/// sent: a [`Rejected`](ballast_core::Rejected) with
/// [`Reason::DeadlineExceeded`](ballast_core::Reason::DeadlineExceeded),
/// boxed into [`BoxError`] like the inner service's errors.
///
/// It does not cut the call short when the deadline passes: the callee does
/// that, and a [`Timeout`](crate::Timeout) layer stacked with it does it
/// locally too.
#[derive(Debug, Clone)]
pub struct SendDeadline<S> {
    inner: S,
    config: SendConfig,
}

impl<S> SendDeadline<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, config: SendConfig) -> Self {
        SendDeadline { inner, config }
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
}

impl<S> SendDeadline<S> {
    /// The budget already on the request in the headers this layer writes,
    /// the earlier if both are there. A header that does not parse is
    /// ignored: this layer overwrites it with a valid one.
    fn written_budget(&self, headers: &HeaderMap) -> Option<Duration> {
        let grpc = headers
            .get(GRPC_TIMEOUT)
            .filter(|_| self.config.grpc)
            .and_then(|v| decode_grpc_timeout(v.as_bytes()).ok());
        let millis = self
            .config
            .millis
            .as_ref()
            .and_then(|name| headers.get(name))
            .and_then(|v| decode_timeout_millis(v.as_bytes()).ok());
        match (grpc, millis) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Writes what is left of `deadline`, less the margin, into `headers`
    /// (never more than a budget already written there, nor than `bound`,
    /// a timeout the request carries of its own). `false` when nothing is
    /// left: the request must be refused, not sent. Shared by every request
    /// type the layer serves (`http::Request`, and `reqwest::Request` with
    /// feature `reqwest`).
    pub(super) fn write_budget(
        &self,
        headers: &mut HeaderMap,
        deadline: Deadline,
        bound: Option<Duration>,
    ) -> bool {
        let remaining = deadline.remaining_at(Instant::now());
        let mut budget = remaining.saturating_sub(self.config.margin);
        // A timeout already written on the request (tonic's
        // `Request::set_timeout` writes `grpc-timeout`) is the caller's
        // own, tighter bound when it is shorter: keep the earlier of the two.
        if let Some(written) = self.written_budget(headers) {
            budget = budget.min(written);
        }
        if let Some(bound) = bound {
            budget = budget.min(bound);
        }
        tracing::Span::current().record(BUDGET_PASSED_ON_US, micros(budget));
        if budget.is_zero() {
            tracing::debug!(
                remaining_us = micros(remaining),
                margin_us = micros(self.config.margin),
                "no budget left to pass on; request refused before it was sent"
            );
            return false;
        }
        if self.config.grpc {
            let value = encode_grpc_timeout(budget);
            // Digits and a unit letter: always a valid header value.
            if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
                headers.insert(GRPC_TIMEOUT, v);
            }
        }
        if let Some(name) = &self.config.millis {
            let value = encode_timeout_millis(budget);
            if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
                headers.insert(name.clone(), v);
            }
        }
        true
    }
}

impl<S, B> Service<Request<B>> for SendDeadline<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let deadline = match (req.deadline(), Deadline::current()) {
            (Some(a), Some(b)) => a.earlier(b),
            (Some(d), None) | (None, Some(d)) => d,
            (None, None) => return ResponseFuture::unbounded(self.inner.call(req)),
        };
        if !self.write_budget(req.headers_mut(), deadline, None) {
            return ResponseFuture::refused();
        }
        req.set_deadline(deadline);
        ResponseFuture::unbounded(self.inner.call(req))
    }
}

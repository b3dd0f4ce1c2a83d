//! [`Timeout`]: the tower service.

use crate::config::Config;
use crate::deadline::Deadline;
use crate::future::ResponseFuture;
use crate::source::{DeadlineSource, TaskLocal};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower_service::Service;

pub use ballast_core::BoxError;

/// A service whose calls must finish by the earlier of its own timeout and
/// the request's deadline.
///
/// A request whose deadline has already passed is refused without calling
/// the inner service. A call still running when the deadline passes is
/// dropped (which cancels the inner work) and fails. Either way the error
/// is a [`Rejected`](ballast_core::Rejected) with
/// [`Reason::DeadlineExceeded`](ballast_core::Reason::DeadlineExceeded),
/// boxed into [`BoxError`]; the inner service's own errors pass through
/// boxed, so `err.downcast_ref::<Rejected>()` tells them apart.
///
/// The deadline enforced is the earliest of the layer's timeout, the
/// request's deadline as its [`DeadlineSource`] reads it, and the task's
/// current deadline ([`Deadline::current`]), which always binds: a callee
/// never extends its caller's budget. The inner call runs inside
/// [`Deadline::scope`] with that deadline, so code it calls reads the
/// budget with [`Deadline::current`].
///
/// Needs a tokio runtime with time enabled.
#[derive(Debug, Clone)]
pub struct Timeout<S, Src = TaskLocal> {
    inner: S,
    timeout: Option<Duration>,
    source: Src,
    /// The series reported through the `metrics` facade.
    #[cfg(feature = "metrics")]
    export: std::sync::Arc<crate::export::Export>,
}

impl<S> Timeout<S> {
    /// Wraps `inner`, reading each request's deadline from the task
    /// ([`TaskLocal`]).
    pub fn new(inner: S, config: Config) -> Self {
        Self::with_source(inner, config, TaskLocal)
    }
}

impl<S, Src> Timeout<S, Src> {
    /// Wraps `inner`, reading each request's deadline from `source`.
    pub fn with_source(inner: S, config: Config, source: Src) -> Self {
        Self {
            inner,
            timeout: config.timeout,
            source,
            #[cfg(feature = "metrics")]
            export: crate::export::Export::new(config.name),
        }
    }

    /// Wraps `inner` for a layer that registered its series already.
    #[cfg(feature = "metrics")]
    pub(crate) fn with_export(
        inner: S,
        config: Config,
        source: Src,
        export: std::sync::Arc<crate::export::Export>,
    ) -> Self {
        Self {
            inner,
            timeout: config.timeout,
            source,
            export,
        }
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

impl<S, Src, Req> Service<Req> for Timeout<S, Src>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Src: DeadlineSource<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        // The task's current deadline binds whatever the source says: a
        // callee never extends its caller's budget.
        let bound = self.source.binding(&req);
        let (now, deadline) = match (self.timeout, bound) {
            // Nothing to enforce, and no clock to read.
            (None, None) => {
                #[cfg(feature = "metrics")]
                self.export.unbounded();
                return ResponseFuture::unbounded(self.inner.call(req));
            }
            (None, Some(bound)) => (Instant::now(), bound),
            (Some(timeout), bound) => {
                let now = Instant::now();
                let own = Deadline::after_from(now, timeout);
                (now, bound.map_or(own, |b| b.earlier(own)))
            }
        };
        if deadline.is_expired_at(now) {
            tracing::debug!(
                overdue = ?now.saturating_duration_since(deadline.instant()),
                "deadline already passed; call refused before it started"
            );
            #[cfg(feature = "metrics")]
            self.export.refused();
            return ResponseFuture::refused();
        }
        // No later than the current deadline already: no need to read it
        // again. Current around `call` too, so layers below that plan in
        // `call` (retry, a queue's bound, a limiter's wait) see it.
        let future = deadline.in_scope_exact(|| self.inner.call(req));
        #[cfg(feature = "metrics")]
        let tally = self.export.clone();
        #[cfg(not(feature = "metrics"))]
        let tally = ();
        ResponseFuture::bounded(deadline.scope_exact(future), now, tally)
    }
}

//! [`LoadShed`]: the tower service, and its [`ShedFuture`].

use super::priority::Priority;
use super::shedder::{LoadShedder, ShedPermit};
use crate::guarded::Guarded;
use crate::service::BoxError;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower_service::Service;

/// A service behind a [`LoadShedder`]: a call whose priority's share of
/// the limit is full is refused at once with a boxed
/// [`Rejected`](ballast_core::Rejected) ([`Reason::Overloaded`](ballast_core::Reason::Overloaded)),
/// and never reaches the inner service.
///
/// The place in flight is taken in `call` and lives in the [`ShedFuture`]
/// (so a clone polled ready and never called holds nothing, and dropping
/// the future gives the place back). `poll_ready` only asks the inner
/// service: unlike tower's `LoadShed`, which sheds when the inner service
/// is not ready, this sheds on the count of calls in flight.
pub struct LoadShed<S, F> {
    inner: S,
    shedder: LoadShedder,
    priority: F,
}

impl<S, F> LoadShed<S, F> {
    /// Puts `inner` behind `shedder`, reading priorities with `priority`.
    pub fn new(inner: S, shedder: LoadShedder, priority: F) -> Self {
        Self {
            inner,
            shedder,
            priority,
        }
    }

    /// The shedder this service admits calls with.
    pub fn shedder(&self) -> &LoadShedder {
        &self.shedder
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

// Derived-like, but without requiring more than the fields need; no
// reservation is held by a service value, so a clone shares nothing but
// the shedder.
impl<S: Clone, F: Clone> Clone for LoadShed<S, F> {
    fn clone(&self) -> Self {
        Self::new(
            self.inner.clone(),
            self.shedder.clone(),
            self.priority.clone(),
        )
    }
}

impl<S: fmt::Debug, F> fmt::Debug for LoadShed<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShed")
            .field("inner", &self.inner)
            .field("shedder", &self.shedder)
            .finish_non_exhaustive()
    }
}

impl<S, F, Req> Service<Req> for LoadShed<S, F>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    F: Fn(&Req) -> Priority,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ShedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let priority = (self.priority)(&req);
        let inner = match ShedPermit::admit(&self.shedder.shared, priority) {
            Ok(permit) => Guarded::running(self.inner.call(req), permit),
            Err(rejected) => Guarded::refused(rejected),
        };
        ShedFuture { inner }
    }
}

pin_project! {
    /// The future of a [`LoadShed`] call: refused at once, or running while
    /// holding its place in flight (given back when it finishes or is
    /// dropped).
    pub struct ShedFuture<F> {
        #[pin]
        inner: Guarded<F, ShedPermit>,
    }
}

impl<F, T, E> Future for ShedFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> fmt::Debug for ShedFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShedFuture").finish_non_exhaustive()
    }
}

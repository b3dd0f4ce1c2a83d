//! [`FixedBulkhead`]: the tower service.

use crate::bulkhead::Bulkhead;
use crate::future::ResponseFuture;
use crate::permit::{Admission, admit};
use std::fmt;
use std::task::{Context, Poll};
use tower_service::Service;

pub use ballast_core::BoxError;

/// A service behind a fixed bulkhead: at most the bulkhead's limit of
/// calls in flight, across all clones. A call that finds no permit is
/// refused with a [`Rejected`](ballast_core::Rejected) (boxed into the
/// error) or, if configured, waits in the bulkhead's FIFO queue.
///
/// # Where the permit is taken
///
/// In `call`, not in `poll_ready`. A permit reserved in `poll_ready` is
/// held by the service value until it is called: a clone that is polled
/// ready and then never called (or parked behind a `Buffer`) would hold it
/// forever and starve every other clone. Taken in `call`, the permit lives
/// in the [`ResponseFuture`], so dropping the future, waiting or running,
/// gives it back. `poll_ready` only asks the inner service.
///
/// A call that has to wait takes the inner service, already polled ready,
/// into its future (leaving a clone in its place, hence `S: Clone`), and
/// calls it once it has a permit: the inner service's `call`, which may
/// start work, never runs without a permit.
pub struct FixedBulkhead<S> {
    inner: S,
    bulkhead: Bulkhead,
}

impl<S> FixedBulkhead<S> {
    /// Puts `inner` behind `bulkhead`.
    pub fn new(inner: S, bulkhead: Bulkhead) -> Self {
        Self { inner, bulkhead }
    }

    /// The bulkhead this service draws permits from.
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
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

// A clone shares the bulkhead (one reference-count increment); it never
// shares a reservation (none is held by a service value: permits live in
// futures).
impl<S: Clone> Clone for FixedBulkhead<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            bulkhead: self.bulkhead.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for FixedBulkhead<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBulkhead")
            .field("inner", &self.inner)
            .field("bulkhead", &self.bulkhead)
            .finish()
    }
}

impl<S, Req> Service<Req> for FixedBulkhead<S>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // No permit here: see "Where the permit is taken".
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match admit(&self.bulkhead.shared) {
            Admission::Now(permit) => ResponseFuture::running(self.inner.call(req), permit),
            Admission::Refused(rejected) => ResponseFuture::rejected(rejected),
            Admission::Wait(wait) => {
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(wait, ready, req)
            }
        }
    }
}

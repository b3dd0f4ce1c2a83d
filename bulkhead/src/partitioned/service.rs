//! [`Partitioned`]: the tower service, and its [`PartitionedFuture`].

use super::bulkhead::{PartitionId, PartitionedBulkhead};
use super::permit::PartitionPermit;
use crate::guarded::Guarded;
use crate::service::BoxError;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower_service::Service;

/// A service behind a [`PartitionedBulkhead`]: each call counts in the
/// partition its key function picks, and a call that finds no slot (its
/// partition's own, or one to borrow) is refused at once with a boxed
/// [`Rejected`](ballast_core::Rejected)
/// ([`Reason::BulkheadFull`](ballast_core::Reason::BulkheadFull)),
/// never reaching the inner service.
///
/// The slot is taken in `call`, not `poll_ready`, and lives in the
/// [`PartitionedFuture`]: a clone polled ready and never called (or parked
/// behind a `Buffer`) holds nothing, and dropping the future gives the slot
/// back. `poll_ready` only asks the inner service (the partition is not
/// known before the request is).
pub struct Partitioned<S, F> {
    inner: S,
    bulkhead: PartitionedBulkhead,
    key: F,
}

impl<S, F> Partitioned<S, F> {
    /// Puts `inner` behind `bulkhead`, picking partitions with `key`.
    pub fn new(inner: S, bulkhead: PartitionedBulkhead, key: F) -> Self {
        Self {
            inner,
            bulkhead,
            key,
        }
    }

    /// The bulkhead this service takes slots from.
    pub fn bulkhead(&self) -> &PartitionedBulkhead {
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

// A service value holds no reservation (slots live in futures), so a clone
// shares only the bulkhead.
impl<S: Clone, F: Clone> Clone for Partitioned<S, F> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.bulkhead.clone(), self.key.clone())
    }
}

impl<S: fmt::Debug, F> fmt::Debug for Partitioned<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Partitioned")
            .field("inner", &self.inner)
            .field("bulkhead", &self.bulkhead)
            .finish_non_exhaustive()
    }
}

impl<S, F, Req> Service<Req> for Partitioned<S, F>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    F: Fn(&Req) -> PartitionId,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = PartitionedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let id = (self.key)(&req);
        let inner = match PartitionPermit::admit(&self.bulkhead.shared, id) {
            Ok(permit) => Guarded::running(self.inner.call(req), permit),
            // The family's one rejection type; the partition is in the
            // tracing event and the snapshot.
            Err(rejected) => Guarded::refused(rejected.into()),
        };
        PartitionedFuture { inner }
    }
}

pin_project! {
    /// The future of a [`Partitioned`] call: refused at once, or running
    /// while holding its slot (given back when it finishes or is dropped).
    pub struct PartitionedFuture<F> {
        #[pin]
        inner: Guarded<F, PartitionPermit>,
    }
}

impl<F, T, E> Future for PartitionedFuture<F>
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

impl<F> fmt::Debug for PartitionedFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionedFuture").finish_non_exhaustive()
    }
}

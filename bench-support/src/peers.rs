//! Peers that have no tower layer of their own, wrapped as a user would
//! wrap them, so every bench times the same wrapper.

use std::task::{Context, Poll};
use tower::Service;

/// `inner` behind recloser's async breaker with its default settings:
/// recloser has no tower layer, and this is the least wrapper that gives
/// it one.
#[derive(Clone)]
pub struct Recloser<S> {
    inner: S,
    breaker: recloser::AsyncRecloser,
}

impl<S> Recloser<S> {
    /// `inner` behind a fresh recloser with its default settings.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            breaker: recloser::AsyncRecloser::from(recloser::Recloser::default()),
        }
    }
}

impl<S: Service<u64>> Service<u64> for Recloser<S> {
    type Response = S::Response;
    type Error = recloser::Error<S::Error>;
    type Future = recloser::RecloserFuture<S::Future, recloser::AnyError>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(recloser::Error::Inner)
    }

    fn call(&mut self, req: u64) -> Self::Future {
        self.breaker.call(self.inner.call(req))
    }
}

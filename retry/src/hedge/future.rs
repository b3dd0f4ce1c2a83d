//! [`HedgeFuture`]: the future of a [`Hedge`](crate::Hedge) call, and how
//! it launches backups on the service.

use super::policy::HedgeShared;
use super::race::{Launch, Race};
use super::service::Local;
use crate::classify::CloneRequest;
use crate::sync::CachePadded;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tower_service::Service;

pin_project! {
    /// The future of a [`Hedge`](crate::Hedge) call: the first attempt,
    /// then backups as the policy allows; it resolves to the first answer.
    ///
    /// Dropping it cancels every attempt in progress (their futures are
    /// dropped) and its timer; no backup follows.
    pub struct HedgeFuture<F, S, Req, K> {
        #[pin]
        race: Race<F, ServiceLaunch<S, Req, K>>,
    }
}

impl<F, S, Req, K> HedgeFuture<F, S, Req, K> {
    #[inline]
    pub(crate) fn new(race: Race<F, ServiceLaunch<S, Req, K>>) -> Self {
        Self { race }
    }
}

impl<F, S, Req, K> Future for HedgeFuture<F, S, Req, K>
where
    S: Service<Req, Future = F>,
    F: Future<Output = Result<S::Response, S::Error>>,
    S::Error: 'static,
    K: CloneRequest<Req>,
{
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().race.poll(cx)
    }
}

impl<F, S, Req, K> fmt::Debug for HedgeFuture<F, S, Req, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeFuture")
            .field("attempts", &self.race.attempts())
            .finish_non_exhaustive()
    }
}

/// Launches backups on a clone of the service, with copies of the request.
pub(crate) struct ServiceLaunch<S, Req, K> {
    // The service backups are made on (polled ready before each).
    pub(crate) service: S,
    // The copy the next backup sends; `None` when it cannot be copied.
    pub(crate) spare: Option<Req>,
    pub(crate) local: Arc<CachePadded<Local<K>>>,
}

impl<S, Req, K> Launch for ServiceLaunch<S, Req, K>
where
    S: Service<Req>,
    K: CloneRequest<Req>,
{
    type Future = S::Future;

    #[inline]
    fn shared(&self) -> &HedgeShared {
        &self.local.policy.shared
    }

    fn can_hedge(&self) -> bool {
        self.spare.is_some()
    }

    fn poll_launch(&mut self, cx: &mut Context<'_>) -> Poll<Option<S::Future>> {
        if self.spare.is_none() {
            return Poll::Ready(None);
        }
        if ready!(self.service.poll_ready(cx)).is_err() {
            tracing::debug!("hedge: the service failed to become ready; no backup");
            return Poll::Ready(None);
        }
        let Some(req) = self.spare.take() else {
            return Poll::Ready(None);
        };
        self.spare = self.local.cloner.clone_request(&req);
        Poll::Ready(Some(self.service.call(req)))
    }
}

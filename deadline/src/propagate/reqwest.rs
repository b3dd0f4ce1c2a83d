//! [`SendDeadline`] over `reqwest::Request` (feature `reqwest`): reqwest's
//! `Client` is a tower service of it, so the layers stack around it as
//! they do around hyper's client.

use super::client::SendDeadline;
use crate::deadline::Deadline;
use crate::future::ResponseFuture;
use crate::service::BoxError;
use std::task::{Context, Poll};
use tower_service::Service;

/// Writes the budget left of the task's deadline
/// ([`Deadline::current`]), less the margin, into a `reqwest::Request`'s
/// headers, as for an `http::Request`. A `reqwest::Request` keeps no
/// extensions one can read, so it carries no deadline of its own: the
/// task's is the one sent (a [`Timeout`](crate::Timeout) or
/// [`ClientDeadline`](super::ClientDeadline) above sets it). A timeout set
/// on the request (`RequestBuilder::timeout`) bounds the budget sent too.
///
/// ```
/// use ballast_deadline::Deadline;
/// use ballast_deadline::propagate::SendDeadlineLayer;
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), ballast_deadline::BoxError> {
/// // In place of `reqwest::Client`, a service that returns the header sent.
/// let client = ServiceBuilder::new()
///     .layer(SendDeadlineLayer::default()) // keeps 5 ms for the network
///     .service(service_fn(|req: reqwest::Request| async move {
///         Ok::<_, reqwest::Error>(req.headers()["x-request-timeout-ms"].clone())
///     }));
/// let req = reqwest::Request::new(reqwest::Method::GET, "http://stock.internal/items".parse()?);
/// let sent = Deadline::after(Duration::from_millis(300)).scope(client.oneshot(req)).await?;
/// assert_eq!(sent, "295");
/// # Ok(()) }
/// ```
impl<S> Service<reqwest::Request> for SendDeadline<S>
where
    S: Service<reqwest::Request>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.get_mut().poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: reqwest::Request) -> Self::Future {
        let Some(deadline) = Deadline::current() else {
            return ResponseFuture::unbounded(self.get_mut().call(req));
        };
        let own_timeout = req.timeout().copied();
        if !self.write_budget(req.headers_mut(), deadline, own_timeout) {
            return ResponseFuture::refused();
        }
        ResponseFuture::unbounded(self.get_mut().call(req))
    }
}

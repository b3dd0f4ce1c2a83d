//! [`ClientDeadlineLayer`]: one client-side layer that both sends the
//! deadline to the callee and stops waiting at it.

use super::client::{SendDeadline, SendDeadlineLayer};
use super::config::SendConfig;
use crate::config::Config;
use crate::layer::TimeoutLayer;
use crate::service::Timeout;
use crate::source::TaskLocal;
use tower_layer::Layer;

/// The service [`ClientDeadlineLayer`] makes: a [`Timeout`] around a
/// [`SendDeadline`], the two parts that stay available on their own.
pub type ClientDeadline<S, Src = TaskLocal> = Timeout<SendDeadline<S>, Src>;

/// The client side of a deadline in one layer: it tells the callee how
/// long it has (as [`SendDeadlineLayer`] does) *and* gives up waiting when
/// that time is up (as [`TimeoutLayer`] does).
///
/// [`SendDeadlineLayer`] alone sends the header but leaves the client
/// waiting past its deadline for a callee that ignores it, or for a
/// network that never answers; this layer closes that gap. Each call is
/// bounded by the earlier of the layer's own timeout (if its [`Config`]
/// has one) and the task's [`Deadline::current`](crate::Deadline::current);
/// that deadline, less the [`SendConfig`]'s network margin, goes out in the
/// request's headers, and when it passes the call is dropped and fails
/// with [`Reason::DeadlineExceeded`](ballast_core::Reason::DeadlineExceeded).
/// A request with no time left after the margin is refused without being
/// sent.
///
/// It serves `http::Request`s (hyper, hyper-util's client, tonic's
/// channel) and, with feature `reqwest`, `reqwest::Request`s (reqwest's
/// `Client` is a tower service). Put it innermost, right above the client,
/// so every attempt a retry makes sends what is left at that moment; the
/// `ballast` facade names it `.with_client_deadline(config)`.
///
/// ```
/// use ballast_deadline::propagate::ClientDeadlineLayer;
/// use ballast_deadline::{Config, Reason, Rejected};
/// use http::{Request, Response};
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), ballast_deadline::BoxError> {
/// // A callee that reads the budget it was sent, then takes far too long.
/// let slow = service_fn(|req: Request<()>| async move {
///     assert_eq!(req.headers()["x-request-timeout-ms"], "195");
///     tokio::time::sleep(Duration::from_secs(60)).await;
///     Ok::<_, std::io::Error>(Response::new(()))
/// });
/// let client = ServiceBuilder::new()
///     .layer(ClientDeadlineLayer::new(Config::with_timeout(Duration::from_millis(200))?))
///     .service(slow);
///
/// let started = tokio::time::Instant::now();
/// let err = client.oneshot(Request::new(())).await.unwrap_err();
/// assert_eq!(Rejected::find(&err).map(Rejected::reason), Some(Reason::DeadlineExceeded));
/// assert_eq!(started.elapsed(), Duration::from_millis(200)); // not 60 s
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientDeadlineLayer<Src = TaskLocal> {
    timeout: TimeoutLayer<Src>,
    send: SendDeadlineLayer,
}

impl ClientDeadlineLayer {
    /// Bounds each call by `config`'s timeout (if any) or the task's
    /// deadline, whichever is earlier, and sends that deadline with
    /// [`SendConfig::default`] (both headers, a 5 ms margin).
    pub fn new(config: Config) -> Self {
        Self {
            timeout: TimeoutLayer::new(config),
            send: SendDeadlineLayer::default(),
        }
    }
}

impl<Src> ClientDeadlineLayer<Src> {
    /// Sends the deadline as `send` says (headers, margin) instead.
    pub fn send_config(self, send: SendConfig) -> Self {
        Self {
            timeout: self.timeout,
            send: SendDeadlineLayer::new(send),
        }
    }

    /// Reads each request's deadline from `source` too (see
    /// [`DeadlineSource`](crate::DeadlineSource)): with
    /// [`FromRequestOrTaskLocal`](crate::FromRequestOrTaskLocal), a
    /// deadline an `http::Request` carries is enforced as well as sent.
    pub fn source<Src2>(self, source: Src2) -> ClientDeadlineLayer<Src2> {
        ClientDeadlineLayer {
            timeout: self.timeout.source(source),
            send: self.send,
        }
    }
}

impl<S, Src: Clone> Layer<S> for ClientDeadlineLayer<Src> {
    type Service = ClientDeadline<S, Src>;

    fn layer(&self, inner: S) -> Self::Service {
        self.timeout.layer(self.send.layer(inner))
    }
}

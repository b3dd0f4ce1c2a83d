//! Deadlines across hops (feature `http`): a client layer that sends the
//! remaining budget with each request, and a server layer that reads it
//! back into the request's deadline.
//!
//! ```text
//!  client ──(grpc-timeout: 300m)──▶ A ──(grpc-timeout: 241m)──▶ B
//!  SendDeadline                ReceiveDeadline            ReceiveDeadline
//!                              handler ─ SendDeadline
//! ```
//!
//! - [`ClientDeadlineLayer`] (clients): sends the deadline and stops
//!   waiting at it, in one layer (a [`SendDeadlineLayer`] under a
//!   [`TimeoutLayer`](crate::TimeoutLayer)).
//! - [`SendDeadlineLayer`] (clients): writes what remains of the request's
//!   deadline (the earlier of the one it carries and the task's
//!   [`Deadline::current`](crate::Deadline::current)), less a network
//!   margin, as `grpc-timeout` and/or a header of milliseconds; refuses to
//!   send a request with nothing left.
//! - [`ReceiveDeadlineLayer`] (servers): reads those headers into the
//!   request's deadline, runs the handler in
//!   [`Deadline::scope`](crate::Deadline::scope) so its own clients pass
//!   the rest on, refuses requests that arrive expired or with malformed
//!   headers, and cancels the handler when the deadline passes.
//!
//! Only a *relative* timeout crosses the wire, so hosts never compare
//! clocks: each server counts the budget from the moment the request
//! arrived, on its own clock. Encoding rounds down, so no hop gives the
//! next more time than it has ([`codec`](crate::codec)).
//!
//! Both are plain tower layers over `http::Request<B>`, so they fit hyper
//! and axum servers and clients (`hyper_util`'s client is a tower
//! service). tonic's requests are `http::Request`s in its tower stack, so
//! the layers go in as they are: `Server::builder().layer(ReceiveDeadlineLayer::default())`,
//! and a `ServiceBuilder` around a `Channel` (tests/tonic.rs shows both).
//! [`SendDeadlineLayer`] only sends: stack a [`Timeout`](crate::Timeout)
//! above it to also stop waiting locally, or use [`ClientDeadlineLayer`],
//! which is both in one layer.
//!
//! With feature `reqwest`, [`SendDeadline`] (and so [`ClientDeadlineLayer`])
//! also serves `reqwest::Request`, reqwest's `Client` being a tower service
//! of it: the task's deadline goes out in its headers.
//!
//! tonic also enforces `grpc-timeout` on its own, outside these layers: its
//! server and its channel each run a timer on the header and answer
//! `Cancelled` ("Timeout expired") when it fires. With the same budget on
//! both sides the client's timer usually fires first, so a tonic client
//! sees `Cancelled` about as often as `DeadlineExceeded` for a handler that
//! overruns. The handler is cancelled either way. For a deterministic
//! `DeadlineExceeded`, cap budgets on the server
//! ([`ReceiveConfigBuilder::max_budget`]) below what clients send.
//!
//! ```
//! use ballast_deadline::Deadline;
//! use ballast_deadline::propagate::{ReceiveDeadlineLayer, SendDeadlineLayer};
//! use http::{Request, Response};
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), ballast_deadline::BoxError> {
//! // A server that reports the budget its handler sees.
//! let server = ServiceBuilder::new()
//!     .layer(ReceiveDeadlineLayer::default())
//!     .service(service_fn(|_: Request<()>| async {
//!         let left = Deadline::current().expect("the caller's deadline").remaining();
//!         Ok::<_, Infallible>(Response::new(left.as_millis().to_string()))
//!     }));
//! // A client whose "network" is a direct call to the server.
//! let client = ServiceBuilder::new()
//!     .layer(SendDeadlineLayer::default()) // keeps 5 ms for the network
//!     .service(server);
//!
//! let res = Deadline::after(Duration::from_millis(300))
//!     .scope(client.oneshot(Request::new(())))
//!     .await?;
//! assert_eq!(res.into_body(), "295");
//! # Ok(()) }
//! ```
//!
//! # Tracing
//!
//! Every request a [`ReceiveDeadline`] serves runs in an `info` span named
//! [`deadline.hop`](SPAN_NAME), declared with these fields and filled with
//! `Span::record` as the request goes, so the hop that used up a budget can
//! be found from one trace:
//!
//! | field | meaning |
//! | --- | --- |
//! | [`budget_received_us`](BUDGET_RECEIVED_US) | the budget the caller sent (after `max_budget`), µs |
//! | [`time_used_us`](TIME_USED_US) | from arrival to response, µs |
//! | [`budget_passed_on_us`](BUDGET_PASSED_ON_US) | the budget the last outgoing call sent on, µs (written by [`SendDeadline`]) |
//! | [`outcome`](OUTCOME) | `ok`, `expired_on_arrival`, `cancelled`, `malformed` or `dropped` |
//!
//! [`SendDeadline`] records `budget_passed_on_us` into whatever span is
//! current when it is called, so in a handler it lands in the hop's span.

mod client;
mod client_deadline;
mod config;
mod future;
mod refusal;
#[cfg(feature = "reqwest")]
mod reqwest;
mod server;
mod span;

pub use client::{SendDeadline, SendDeadlineLayer};
pub use client_deadline::{ClientDeadline, ClientDeadlineLayer};
pub use config::{
    DEFAULT_MARGIN, ReceiveConfig, ReceiveConfigBuilder, SendConfig, SendConfigBuilder,
};
pub use future::ReceiveFuture;
pub use refusal::DEADLINE_ERROR_HEADER;
pub use server::{ReceiveDeadline, ReceiveDeadlineLayer};
pub use span::{BUDGET_PASSED_ON_US, BUDGET_RECEIVED_US, OUTCOME, SPAN_NAME, TIME_USED_US};

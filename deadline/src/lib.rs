//! Deadlines: one time budget carried through a whole call chain, and a
//! timeout layer that enforces it.
//!
//! A timeout that is not propagated leaves orphan work: the dependency
//! keeps working for a caller that has already given up. With ballast a
//! call gets one [`Deadline`] (an instant on tokio's clock) when it enters
//! the system; every layer below enforces the *earlier* of its own timeout
//! and that deadline, refuses work that can no longer finish in time, and
//! sees how much is left with [`Deadline::remaining`]. A callee can shorten
//! the budget, never extend it.
//!
//! ```
//! use ballast_deadline::{Config, Deadline, Reason, Rejected, TimeoutLayer};
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), ballast_deadline::BoxError> {
//! // A dependency that takes 500 ms, and sees the budget it was given.
//! let slow = service_fn(|_: &str| async {
//!     let left = Deadline::current().expect("runs under a deadline").remaining();
//!     assert!(left <= Duration::from_millis(300));
//!     tokio::time::sleep(Duration::from_millis(500)).await;
//!     Ok::<_, std::io::Error>("done")
//! });
//! // The layer allows 2 s per call...
//! let mut client = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(Config::with_timeout(Duration::from_secs(2))?))
//!     .service(slow);
//!
//! // ...but the caller has only 300 ms left, and that is what binds.
//! let caller = Deadline::after(Duration::from_millis(300));
//! let err = caller
//!     .scope(async { client.ready().await?.call("GET /items").await })
//!     .await
//!     .unwrap_err();
//! let rejected = err.downcast_ref::<Rejected>().expect("refused by the deadline");
//! assert_eq!(rejected.reason(), Reason::DeadlineExceeded);
//! assert_eq!(err.to_string(), "deadline exceeded");
//! # Ok(()) }
//! ```
//!
//! # What's here
//!
//! - [`Deadline`]: the instant, [`remaining`](Deadline::remaining),
//!   [`earlier`](Deadline::earlier), and the task's current deadline:
//!   [`Deadline::current`] and [`Deadline::scope`] (nested scopes keep the
//!   earlier deadline).
//! - [`DeadlineCarrier`]: requests that carry a deadline; implemented for
//!   `http::Request` (in its extensions) with feature `http`.
//! - [`TimeoutLayer`] / [`Timeout`] / [`ResponseFuture`]: the tower layer.
//!   Where it reads a request's deadline is a [`DeadlineSource`]:
//!   [`TaskLocal`] (default), [`FromRequest`], [`FromRequestOrTaskLocal`].
//! - [`Config`] / [`ConfigBuilder`]: the layer's own timeout; invalid
//!   settings are a [`ConfigError`]. With feature `serde`, `Config`
//!   reads from a file as `{"timeout": "2s"}`.
//! - [`within()`]: the same for plain async code, with a [`Deadline`] or a
//!   `Duration` ([`IntoDeadline`]).
//! - [`codec`]: deadlines on the wire: gRPC's `grpc-timeout` and a
//!   plain-HTTP header of milliseconds, rounding so a callee never gets
//!   more time than its caller has.
//! - [`propagate`] (feature `http`): the deadline across hops.
//!   `SendDeadlineLayer` writes the remaining budget into outgoing
//!   `http::Request`s (and `reqwest::Request`s, feature `reqwest`);
//!   `ClientDeadlineLayer` sends it and stops waiting at it, in one layer;
//!   `ReceiveDeadlineLayer` reads it on the server,
//!   refuses expired or malformed requests, cancels the handler at the
//!   deadline, and records each hop's budget in a `deadline.hop` span.
//!
//! # Errors
//!
//! A call refused or cut short by its deadline fails with
//! [`Rejected`] and [`Reason::DeadlineExceeded`], the rejection every
//! ballast crate shares: the layer boxes it into [`BoxError`], and the
//! inner service's own errors pass through boxed, so one
//! `err.downcast_ref::<Rejected>()` tells "out of time" (or any other
//! ballast refusal) from "the dependency failed". Its retry hint is
//! "later, unknown when": retrying makes sense only under a new deadline.
//!
//! | [`Reason`] | layer | when | [`RetryAfter`] |
//! |---|---|---|---|
//! | `DeadlineExceeded` | [`Timeout`] | the request's deadline has passed before the call, or the earlier of it and the layer's timeout passes during the call | `Unknown` |
//! | `DeadlineExceeded` | [`within()`] | the same, for plain async code | `Unknown` |
//!
//! A server answers it as the table in `ballast_core::answer` says: 504,
//! or gRPC `DEADLINE_EXCEEDED`. The server-side `ReceiveDeadline`
//! (feature `http`) fails nothing: it answers a request that arrived
//! expired, or whose handler ran past the deadline, with that 504 or
//! `DEADLINE_EXCEEDED` itself.
//!
//! # The contract other ballast crates keep
//!
//! Every ballast policy that waits or starts work reads the call's
//! deadline and never spends time past it:
//!
//! - **retry** never starts an attempt that cannot finish before the
//!   deadline (it compares the remaining budget with the backoff plus
//!   what an attempt needs), and stops with the deadline's rejection
//!   rather than its own;
//! - the **bulkhead** never queues a call past its deadline: a call whose
//!   deadline passes while it waits for a permit leaves the queue with
//!   [`Reason::DeadlineExceeded`];
//! - the **rate limiter** never waits past the deadline: if the next
//!   permit comes later than the deadline, it refuses at once instead of
//!   sleeping.
//!
//! They read the deadline the way [`Timeout`] does: by default the task's
//! [`Deadline::current`], which the [`Timeout`] layer, [`within()`] and
//! [`Deadline::scope`] set for everything the call runs; or through a
//! [`DeadlineSource`] (such as [`FromRequest`] for requests that carry
//! one), configured on their layer. Code that needs the clock reading it
//! already has uses [`Deadline::remaining_at`] and
//! [`Deadline::is_expired_at`].
//!
//! # Cost
//!
//! A call the layer wraps reads the clock once, allocates nothing, and
//! creates its timer only if the inner future does not complete on its
//! first poll. A call with no timeout and no deadline does not read the
//! clock at all.
//!
//! # Metrics (feature `metrics`)
//!
//! Each [`TimeoutLayer`] reports its calls by outcome (`within` the
//! deadline, `exceeded`, `refused` because it arrived expired,
//! `unbounded`) through the [`metrics`](https://docs.rs/metrics) facade as
//! `ballast_deadline_calls_total` ([`ballast_core::metric_names`], with a
//! `name` label: the config's name). The series are registered when the
//! layer is built, so install the recorder first. A call with a deadline
//! carries a reference to them in its future (one reference-count
//! increment and decrement) and bumps one counter when it ends: tens of
//! nanoseconds at most per call on a busy machine, the price of those
//! atomic operations, measured by `benches/metrics_cost.rs` (run it with
//! and without the feature and compare the rows). Without the feature
//! nothing of it is compiled and the future carries nothing.
#![warn(missing_docs)]

mod carrier;
pub mod codec;
mod config;
mod deadline;
#[cfg(feature = "metrics")]
mod export;
mod future;
mod layer;
#[cfg(feature = "http")]
pub mod propagate;
mod service;
mod source;
mod within;

pub use ballast_core::{ConfigError, Reason, Rejected, RetryAfter};
pub use carrier::DeadlineCarrier;
pub use config::{Config, ConfigBuilder};
pub use deadline::{Deadline, IntoDeadline, Scoped};
pub use future::ResponseFuture;
pub use layer::TimeoutLayer;
#[cfg(feature = "http")]
pub use propagate::{
    ClientDeadline, ClientDeadlineLayer, ReceiveDeadline, ReceiveDeadlineLayer, SendDeadline,
    SendDeadlineLayer,
};
pub use service::{BoxError, Timeout};
pub use source::{DeadlineSource, FromRequest, FromRequestOrTaskLocal, TaskLocal};
pub use within::within;

//! ballast: resilience patterns for Rust services that call other
//! services, as one crate to add.
//!
//! Each pattern is its own small crate, re-exported here as a module
//! behind a feature of the same name: [`circuit_breaker`], [`bulkhead`],
//! [`retry`], [`deadline`], [`ratelimit`], [`saga`], [`outbox`]. Every
//! layer refuses with the one [`Rejected`] error, boxed into the one
//! [`BoxError`], so a caller downcasts once whatever layer refused.
//!
//! ```
//! use ballast::prelude::*;
//! use ballast::{bulkhead, circuit_breaker};
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let breaker = Breaker::new(circuit_breaker::Config::builder().name("inventory").build()?);
//! let permits = Bulkhead::new(bulkhead::Config::builder().max_concurrent_calls(1).build()?);
//!
//! // A dependency that answers slowly, so a second call finds the one permit taken.
//! let stock = service_fn(|item: u32| async move {
//!     tokio::time::sleep(Duration::from_millis(50)).await;
//!     Ok::<_, std::io::Error>(item * 10)
//! });
//! // One `with_` method per pattern (`ServiceBuilderExt`, in the prelude).
//! let client = ServiceBuilder::new()
//!     .with_circuit_breaker(&breaker)
//!     .with_bulkhead(&permits)
//!     .service(stock);
//!
//! let mut first = client.clone();
//! let first = tokio::spawn(async move { first.ready().await?.call(1).await });
//! tokio::task::yield_now().await;
//! let err = client.clone().oneshot(2).await.unwrap_err();
//! let rejected = Rejected::find(&err).expect("refused by the bulkhead");
//! assert_eq!(rejected.reason(), Reason::BulkheadFull);
//! assert_eq!(first.await??, 10);
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `circuit-breaker`, `bulkhead`, `retry`, `deadline`, `ratelimit` | the five tower layers (default: they need only tokio and tower) |
//! | `saga`, `outbox` | the durable half (off by default: sqlx and a database driver) |
//! | `http` | a [`Rejected`] as the response a server should send; deadlines over HTTP, the HTTP classifiers of retry and the breaker, the 429 layer |
//! | `reqwest` | `http`, and reqwest as the client: deadlines sent on a `reqwest::Request`, retry's cloner and the HTTP classifiers of retry and the breaker over reqwest's types |
//! | `tonic` | a [`Rejected`] as a `tonic::Status` |
//! | `axum` | a ready-made error handler for axum's `HandleErrorLayer` |
//! | `serde` | configs read from files |
//! | `redis` | one rate limit shared by many instances |
//! | `full` | all of the above |
//!
//! # Map
//!
//! - `guide` (with the five default features): the order to stack the
//!   layers, client side and server side, and why.
//! - [`prelude`]: the names every stack uses, for a glob import.
//! - [`ServiceBuilderExt`]: every ballast layer as a `with_` method of
//!   tower's `ServiceBuilder`.
//! - [`Rejected`], [`Reason`], [`RetryAfter`], [`BoxError`]: the family's
//!   one refusal and one boxed error; [`Rejected::find`] finds a refusal
//!   however deep another error wrapped it.
//! - [`answer`] / [`Side`]: what a server answers for a refusal, as one
//!   table for HTTP and gRPC; `http` (feature `http`):
//!   `Rejected::to_http_response`; `grpc` (feature `tonic`):
//!   `Rejected::to_grpc_status` and `grpc::status_error` for tonic's
//!   layers; `axum` (feature `axum`): `HandleErrorLayer` handlers.
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod builder;
#[cfg(all(
    feature = "circuit-breaker",
    feature = "bulkhead",
    feature = "retry",
    feature = "deadline",
    feature = "ratelimit"
))]
pub mod guide;
pub mod prelude;

pub use builder::ServiceBuilderExt;

pub use ballast_core::answer;
#[cfg(feature = "tonic")]
pub use ballast_core::grpc;
#[cfg(feature = "http")]
pub use ballast_core::http;
pub use ballast_core::{BoxError, CallError, ConfigError, Reason, Rejected, RetryAfter, Side};

#[cfg(feature = "bulkhead")]
pub use ballast_bulkhead as bulkhead;
#[cfg(feature = "circuit-breaker")]
pub use ballast_circuit_breaker as circuit_breaker;
#[cfg(feature = "deadline")]
pub use ballast_deadline as deadline;
#[cfg(feature = "outbox")]
pub use ballast_outbox as outbox;
#[cfg(feature = "ratelimit")]
pub use ballast_ratelimit as ratelimit;
#[cfg(feature = "retry")]
pub use ballast_retry as retry;
#[cfg(feature = "saga")]
pub use ballast_saga as saga;

//! Adaptive concurrency: a limit that moves with what the dependency can
//! take, measured from the round trips and drops of the calls it admits.
//!
//! A fixed bulkhead needs its limit chosen in advance, and the right value
//! changes with the dependency's load, deploys and neighbours. An
//! [`AdaptiveLimiter`] finds it: calls it admits are timed, gathered into
//! windows (one limit's worth of calls that started under the current
//! limit: about one round trip, so each update sees the effect of the
//! last with the limit in full use), and a
//! [`LimitAlgorithm`] turns each window into the next limit:
//!
//! - [`Vegas`] (the default) estimates the dependency's queue from how far
//!   the round trip has risen over the no-load round trip and keeps it
//!   short; it starts by doubling (slow start) until queueing shows.
//! - [`Gradient2`] scales the limit by the ratio of a long-term baseline
//!   round trip to the current one.
//! - [`Aimd`] grows by one per window and backs off on drops (errors,
//!   timeouts): for dependencies that signal overload by failing.
//! - Your own: implement [`LimitAlgorithm`].
//!
//! How fast each follows a change of capacity is measured by the crate's
//! simulation (`tests/adaptive_simulation.rs`, on tokio's paused clock):
//! a dependency whose calls take 10ms, which queues instead of failing,
//! loses three quarters of its capacity (100 to 25 calls at once) or gains
//! it back (25 to 100) under twice the larger load. Each algorithm's limit
//! settles within 20% of the new capacity within 5 seconds of the change,
//! and stays there: Gradient2 in about 0.4s down and 1s up, Vegas 3.7s
//! down (one call per window) and 0.15s up, and AIMD, which reads no
//! latency, with its timeout just above the no-load round trip (10.5ms),
//! 0.5s down and 0.8s up.
//!
//! A call over the limit is refused at once (never queued) with a
//! [`Rejected`](crate::Rejected) of [`Reason::Overloaded`](crate::Reason)
//! — the limiter judges the dependency to be at capacity — with a
//! retry-after hint of one round trip. Each refusal and each limit change
//! (old, new, algorithm, why) is a `tracing` debug event. In shadow mode
//! nothing is refused; the snapshot counts what would have been.
//!
//! ```
//! use ballast_bulkhead::adaptive::{AdaptiveConfig, AdaptiveLimiter, Vegas};
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), ballast_bulkhead::BoxError> {
//! let limiter = AdaptiveLimiter::new(
//!     AdaptiveConfig::builder()
//!         .name("inventory")
//!         .initial_limit(10)
//!         .algorithm(Vegas::default())
//!         .build()?,
//! );
//! let dependency = service_fn(|id: u32| async move {
//!     tokio::time::sleep(Duration::from_millis(20)).await;
//!     Ok::<_, std::io::Error>(id)
//! });
//! let mut client = ServiceBuilder::new().layer(limiter.layer()).service(dependency);
//! for id in 0..30 {
//!     assert_eq!(client.ready().await?.call(id).await?, id);
//! }
//! let snapshot = limiter.snapshot();
//! assert_eq!(snapshot.last_rtt, Some(Duration::from_millis(20)));
//! assert_eq!(snapshot.rejected, 0);
//! # Ok(()) }
//! ```
//!
//! # What's here
//!
//! - [`AdaptiveConfig`] / [`AdaptiveConfigBuilder`]: bounds (min, max,
//!   initial), window size, shadow mode and the [`Algorithm`]; each
//!   algorithm has a builder of its own ([`Aimd::builder`],
//!   [`Vegas::builder`], [`Gradient2::builder`]) for its smoothing
//!   settings. Invalid values are a [`ConfigError`](crate::ConfigError).
//!   With feature `serde`, an `AdaptiveConfig` deserializes and serializes
//!   (see below).
//! - [`AdaptiveLimiter`]: the shared limiter and handle ([`AdaptiveSnapshot`],
//!   [`AdaptiveLimiter::set_limit`]), the helper [`AdaptiveLimiter::call`]
//!   and the hand-held [`AdaptivePermit`].
//! - [`AdaptiveLayer`] / [`Adaptive`] / [`ResponseFuture`]: the tower
//!   layer, service and future.
//!
//! # Config files
//!
//! Every field is optional; the algorithm is one key naming it, holding its
//! settings (`{}` for its defaults). Durations are `"5s"`, `"250ms"` or a
//! number of seconds; unknown fields are errors.
//!
//! ```json
//! {
//!     "name": "inventory",
//!     "initial_limit": 20,
//!     "min_limit": 2,
//!     "max_limit": 500,
//!     "min_window_samples": 10,
//!     "shadow": false,
//!     "algorithm": { "aimd": { "backoff_ratio": 0.9, "timeout": "2s" } }
//! }
//! ```
//!
//! # Implementation notes
//!
//! Admission and giving back are atomics only: one word holds the limit and
//! the calls in flight, so a call is admitted by one CAS that checks the
//! count against the limit in the same value. A finished call adds its
//! sample to the window with atomics too (a ticket, a few adds on one
//! cache line, a done count); only the call that fills a window takes the
//! window lock, to run the algorithm and publish the new limit.
//! `limiter`'s and `window`'s module docs hold the details.

mod aimd;
mod algorithm;
mod config;
#[cfg(feature = "serde")]
mod config_serde;
mod future;
mod gradient2;
mod handle;
mod layer;
mod limiter;
#[cfg(all(test, ballast_loom))]
mod loom_models;
mod permit;
mod service;
mod vegas;
mod window;

pub use aimd::{Aimd, AimdBuilder};
pub use algorithm::{LimitAlgorithm, Sample, Update};
pub use config::{AdaptiveConfig, AdaptiveConfigBuilder, Algorithm, MAX_LIMIT};
pub use future::ResponseFuture;
pub use gradient2::{Gradient2, Gradient2Builder};
pub use handle::{AdaptiveLimiter, AdaptiveSnapshot};
pub use layer::AdaptiveLayer;
pub use permit::AdaptivePermit;
pub use service::Adaptive;
pub use vegas::{Vegas, VegasBuilder};

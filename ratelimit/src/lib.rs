//! Rate limiting: admit requests at a sustained rate with bounded bursts,
//! and tell the ones that do not fit exactly when they would.
//!
//! Put a [`RateLimiter`] in front of a dependency you must not flood (a
//! paid API, a database) or a handler that clients must share fairly
//! ([`KeyedRateLimiter`], one limit per client). A request that does not
//! fit is refused at once with a typed [`Rejected`] carrying the exact time
//! until it would fit ("not now"), or a "never" rejection if it asks for
//! more than the limit holds; or, in wait mode, it waits for its cells (up
//! to a maximum, and never past the task's
//! [`Deadline`](ballast_deadline::Deadline)). The default algorithm is the
//! GCRA, a token bucket kept in one atomic word; fixed and sliding windows
//! are there for those who need their semantics.
//!
//! ```
//! use ballast_ratelimit::{Config, RateLimiter, Rejected};
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), ballast_ratelimit::BoxError> {
//! // 10 requests a second, up to 2 back to back.
//! let limiter = RateLimiter::new(Config::builder().rate(10, Duration::from_secs(1)).burst(2).build()?);
//! let echo = service_fn(|req: &'static str| async move { Ok::<_, std::io::Error>(req) });
//! let mut client = ServiceBuilder::new().layer(limiter.layer()).service(echo);
//!
//! client.ready().await?.call("one").await?;
//! client.ready().await?.call("two").await?;
//! let err = client.ready().await?.call("three").await.unwrap_err();
//! let rejected = err.downcast_ref::<Rejected>().expect("refused by the limiter");
//! assert_eq!(rejected.retry_after_hint(), Some(Duration::from_millis(100)));
//!
//! // Without tower: wait mode, or a plain check.
//! tokio::time::advance(Duration::from_millis(100)).await;
//! assert!(limiter.check().is_ok());
//! assert_eq!(limiter.metrics().admitted, 3);
//! # Ok(()) }
//! ```
//!
//! # What's here
//!
//! - [`Gcra`] with its [`Quota`]: the lock-free core, one `AtomicU64`
//!   compare-and-swap per admission, taking `now` as an argument.
//! - [`FixedWindow`] and [`SlidingWindow`] with their [`Window`]: the
//!   window algorithms, same API.
//! - [`Config`] / [`ConfigBuilder`]: the algorithm ([`Limit`]), the
//!   [`Mode`] (reject or wait), shadow mode; invalid values are a
//!   [`ConfigError`].
//! - [`RateLimiter`]: a shared limit on tokio's clock; the async helper
//!   [`until_ready`](RateLimiter::until_ready), [`check`](RateLimiter::check),
//!   [`Metrics`].
//! - [`KeyedRateLimiter`]: one limit per key in a sharded map; idle keys
//!   are evicted, so memory follows the active keys.
//! - [`RateLimitLayer`] / [`RateLimit`] / [`ResponseFuture`]: the tower
//!   layer, `Clone` with shared state; keyed through [`KeyedBy`]. Stack it
//!   with `.layer(limiter.layer())`, or with the `ballast` facade's
//!   `.with_rate_limiter(&limiter)` and `.with_keyed_rate_limiter(&limiter,
//!   key_fn)`.
//! - `http` (feature `http`): the server-side layer answering 429 with
//!   `Retry-After` and the IETF `RateLimit` / `RateLimit-Policy` fields.
//! - `redis` (feature `redis`): one limit shared by every instance of a
//!   service, kept in Redis by a Lua script on the server's clock, with a
//!   fallback (fail open, fail closed, or a local share) behind a timeout
//!   and a circuit breaker while Redis is down.
//!
//! # Refusals
//!
//! Every refusal is a [`Rejected`] with [`Reason::RateLimited`] (boxed
//! into [`BoxError`] by the layers):
//!
//! | when | [`RetryAfter`] |
//! |---|---|
//! | the request does not fit now (mode `Reject`), or would have to wait past `max_wait` or its deadline (mode `Wait`) | `After`: the exact wait until it would fit |
//! | it asks for more cells than the limit can ever hold (`n` above the burst or the window's limit) | `Never` |
//! | Redis-backed, fail-closed, while Redis cannot answer | `After`: the Redis breaker's wait when it is open; `Unknown` otherwise |
//!
//! The HTTP layer (feature `http`) does not fail: it answers 429 itself,
//! with `Retry-After` and the `RateLimit` fields. A limiter in front of a
//! server refuses the server's caller (429); one around a call to a
//! dependency refuses this server's own call, which its caller must not
//! see as a 429: the mapping in `ballast_core::answer` (feature `http` or
//! `tonic` of ballast-core, or of the `ballast` facade) takes the side
//! and answers 429 or 503 accordingly.
//!
//! # Cost
//!
//! A decision that admits at once allocates nothing. It reads the clock
//! once (a [`HotClock`](ballast_core::HotClock): the CPU's time-stamp
//! counter), takes its cell with one compare-and-swap on the limit's
//! state word, and counts the admission with a plain load and store on
//! the calling thread's own stripe of a count. A keyed check adds one
//! hash of the key, a shard's read lock (an atomic operation to take it
//! and one to release it) and a probe of the shard's table. The layer's
//! future holds nothing of the limiter once the call is admitted, and a
//! clone of the limiter or the layer's service, as a server makes per
//! request, is one reference-count increment. Only a request that must
//! wait makes a timer, and boxes it with the request and the service.
//!
//! Measure it beside governor and tower's `RateLimit` with `cargo bench
//! -p ballast-benches --bench hot_paths` (both shapes, one and two
//! threads, the real clock).
//!
//! # Metrics (feature `metrics`)
//!
//! The direct and keyed limiters (whatever their algorithm) and the
//! Redis-backed one report the requests they admit and refuse (by
//! reason) through the [`metrics`](https://docs.rs/metrics) facade under
//! the family's names ([`ballast_core::metric_names`], with a `name`
//! label: the config's name; a keyed limiter reports as one, never per
//! key). The series are registered when the limiter is built, so install
//! the recorder first. Without the feature nothing of it is compiled.
//!
//! A decision then bumps one counter more (admitted or refused): with no
//! recorder installed, nothing measurable; under a recorder whose
//! handles are atomics, one atomic add; a real exporter's handles may
//! cost more. Measure it with `benches/metrics_cost.rs` (a direct
//! `check`, a keyed `check`, a call through the layer; run it with and
//! without the feature and compare the rows).
//!
//! # Config files
//!
//! With feature `serde`, a [`Config`] is `Deserialize` (and `Serialize`).
//! Every field but `limit` is optional; the values are checked like the
//! builder's (an invalid one is a deserialization error carrying the
//! [`ConfigError`] message) and an unknown field is an error. Durations are
//! written `"30s"`, `"1m30s"`, `"250ms"`, or as a number of seconds.
//!
//! ```json
//! {
//!     "name": "search",
//!     "limit": { "type": "rate", "cells": 100, "per": "1s" },
//!     "burst": 20,
//!     "mode": { "type": "wait", "max_wait": "50ms" },
//!     "shadow": false
//! }
//! ```
//!
//! `limit` is one of `{"type": "rate", "cells": 100, "per": "1s"}` (GCRA;
//! `burst` defaults to `cells`), `{"type": "fixed_window", "limit": 100,
//! "window": "1s"}` or `{"type": "sliding_window", "limit": 100, "window":
//! "1s"}`; `burst` applies only to a rate. `mode` is `{"type": "reject"}`
//! (the default) or `{"type": "wait", "max_wait": "50ms"}`.
//!
//! # Rules the limiter keeps
//!
//! - Concurrent checks never admit more than the limit (loom-checked).
//! - A waiting request reserves its cells before it sleeps, so waiters
//!   never over-admit; a cancelled wait does not refund them (v1).
//! - Shadow mode decides and records exactly as if enforcing, and admits.
#![warn(missing_docs)]

mod config;
#[cfg(feature = "serde")]
mod config_serde;
#[cfg(feature = "metrics")]
mod export;
mod future;
mod gcra;
#[cfg(feature = "http")]
pub mod http;
mod keyed;
mod layer;
mod limiter;
#[cfg(all(test, ballast_loom))]
mod loom_models;
mod metrics;
mod quota;
#[cfg(feature = "redis")]
pub mod redis;
mod service;
mod shards;
mod state;
mod sync;
mod window;

pub use ballast_core::{ConfigError, Reason, Rejected, RetryAfter};
pub use config::{Config, ConfigBuilder, Limit, Mode};
pub use future::ResponseFuture;
pub use gcra::Gcra;
/// The key hasher a [`KeyedRateLimiter`] uses unless told otherwise:
/// hashbrown's default, foldhash under a seed drawn at random per process
/// (see [Hashing keys](KeyedRateLimiter#hashing-keys) for the trade
/// against SipHash).
pub use hashbrown::DefaultHashBuilder;
pub use keyed::KeyedRateLimiter;
pub use layer::{KeyedBy, Policy, RateLimitLayer};
pub use limiter::RateLimiter;
pub use metrics::Metrics;
pub use quota::{MAX_BURST_WINDOW, Quota};
pub use service::{BoxError, RateLimit};
pub use window::{FixedWindow, MAX_SLIDING_LIMIT, SlidingWindow, Window};

//! A rate limit shared by every instance of a service, kept in Redis
//! (feature `redis`).
//!
//! A [`RedisRateLimiter`] runs the GCRA in a Lua script on the Redis
//! server, atomically and in one round trip, with Redis's own clock
//! (`TIME`): however many instances check a key, they share one limit,
//! and their clocks do not matter. Each limiter key is one Redis key
//! (`<prefix><key>`) that expires once it has refilled, so idle keys
//! vanish.
//!
//! When Redis fails or answers slower than the timeout, the configured
//! [`Fallback`] decides: fail open, fail closed, or a local
//! [`KeyedRateLimiter`](crate::KeyedRateLimiter) at this instance's share
//! of the rate. A [`Breaker`](ballast_circuit_breaker::Breaker) in front of
//! Redis trips on those failures, so while Redis is down a check costs no
//! network call; when the breaker's probe finds Redis back, checks use the
//! shared limit again. [`RedisMetrics`] counts which path decided, and
//! `tracing` records rejections and entering and leaving the fallback.
//!
//! ```no_run
//! use ballast_ratelimit::Rejected;
//! use ballast_ratelimit::redis::{Fallback, RedisConfig, RedisRateLimiter};
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), ballast_ratelimit::BoxError> {
//! let limiter = RedisRateLimiter::connect(
//!     "redis://127.0.0.1:6379/",
//!     RedisConfig::builder()
//!         .name("api")
//!         .rate(100, Duration::from_secs(1))
//!         .burst(20)
//!         .timeout(Duration::from_millis(20))
//!         .fallback(Fallback::Local { instances: 4 })
//!         .build()?,
//! )?;
//! // One limit per client, shared by every instance of the service.
//! let handler = service_fn(|req: (String, &'static str)| async move { Ok::<_, std::io::Error>(req.1) });
//! let mut svc = ServiceBuilder::new()
//!     .layer(limiter.layer(|req: &(String, &'static str)| req.0.clone()))
//!     .service(handler);
//! match svc.ready().await?.call(("client-42".into(), "GET /")).await {
//!     Ok(body) => println!("{body}"),
//!     Err(e) => match e.downcast_ref::<Rejected>() {
//!         Some(r) => println!("429, retry after {:?}", r.retry_after_hint()),
//!         None => return Err(e),
//!     },
//! }
//! println!("{:?}", limiter.metrics());
//! # Ok(()) }
//! ```
//!
//! # What's here
//!
//! - [`RedisConfig`] / [`RedisConfigBuilder`]: rate and burst, key prefix,
//!   timeout, [`Fallback`], shadow mode, the breaker's config.
//! - [`RedisRateLimiter`]: the shared limit; [`check`](RedisRateLimiter::check)
//!   is the plain async helper, returning [`Admitted`] (with what is left,
//!   for `RateLimit` headers, and [`DecidedBy`]) or a
//!   [`Rejected`](crate::Rejected) with the exact retry-after.
//! - [`RedisRateLimitLayer`] / [`RedisRateLimit`] / [`ResponseFuture`]:
//!   the tower layer, keyed by a function over the request.
//!
//! # Config files
//!
//! With feature `serde` too, a [`RedisConfig`] is `Deserialize`:
//!
//! ```json
//! {
//!     "name": "api",
//!     "rate": { "cells": 100, "per": "1s" },
//!     "burst": 20,
//!     "key_prefix": "myapp:rl:api:",
//!     "timeout": "20ms",
//!     "fallback": { "type": "local", "instances": 4 },
//!     "shadow": false,
//!     "breaker": { "minimum_calls": 5, "wait_in_open": "1s" }
//! }
//! ```
//!
//! `fallback` is `{"type": "fail_open"}` (the default),
//! `{"type": "fail_closed"}` or `{"type": "local", "instances": 4}`;
//! `breaker` is a circuit breaker config
//! ([`ballast_circuit_breaker::Config`]).
//!
//! # Implementation notes
//!
//! The script keeps the theoretical arrival time in microseconds since
//! the Unix epoch, read from `TIME`, as a Lua number (a double, exact to
//! 2^53 µs); it is written with three decimals so an interval that is not
//! a whole number of microseconds does not drift. The key gets an expiry
//! (`SET … PX`) at the moment its state reads as fresh. On Redis 5 and 6
//! the script turns on effects replication, which `TIME` needs; on 7 that
//! is how scripts always replicate.

mod config;
#[cfg(feature = "serde")]
mod config_serde;
mod fallback;
mod future;
mod layer;
mod limiter;
mod metrics;
mod script;
mod service;

pub use config::{DEFAULT_TIMEOUT, Fallback, RedisConfig, RedisConfigBuilder};
pub use future::ResponseFuture;
pub use layer::RedisRateLimitLayer;
pub use limiter::{Admitted, DecidedBy, RedisRateLimiter};
pub use metrics::RedisMetrics;
pub use service::RedisRateLimit;

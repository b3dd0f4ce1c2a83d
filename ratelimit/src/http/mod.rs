//! The server-side HTTP layer (feature `http`): a refused request gets a
//! `429 Too Many Requests` with `Retry-After` and the IETF rate-limit
//! fields, not an error, so it fits axum and hyper servers as is.
//!
//! ```text
//! HTTP/1.1 429 Too Many Requests
//! retry-after: 1
//! ratelimit-policy: "default";q=100;w=60
//! ratelimit: "default";r=0;t=1
//! ```
//!
//! - [`HttpRateLimitLayer`] / [`HttpRateLimit`] / [`HttpResponseFuture`]:
//!   the layer, for any `http::Request<B>` → `http::Response<ResBody>`
//!   service. One limit for all requests
//!   ([`RateLimiter::http_layer`](crate::RateLimiter::http_layer)), or one
//!   per key ([`KeyedRateLimiter::http_layer`](crate::KeyedRateLimiter::http_layer))
//!   picked by a [`key`] function: a client id header, a peer IP from a
//!   connect-info extension, or any `Fn(&Request<B>) -> K`.
//! - [`HttpRedisRateLimitLayer`] / [`HttpRedisRateLimit`] /
//!   [`HttpRedisResponseFuture`] (feature `redis` too): the same answers
//!   on one limit shared by a fleet of servers through Redis
//!   (`RedisRateLimiter::http_layer`), with the fields read from the
//!   shared limit on Redis's clock.
//! - [`HttpConfig`] / [`HeaderStyle`]: which fields are written, and
//!   whether admitted responses carry them too (the quota that remains).
//! - [`RejectBody`] / [`DefaultBody`]: the 429's body, `Default` of the
//!   body type, or made by a function (a JSON document, say).
//!
//! Which fields: by default `RateLimit-Policy` and `RateLimit` as
//! structured fields per draft-ietf-httpapi-ratelimit-headers-10 (the same
//! as -08 and -09); [`HeaderStyle::Legacy`] writes the older
//! `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` of drafts
//! -03 to -06 instead, [`HeaderStyle::Both`] both. How a GCRA or a window
//! reads as the draft's `q` units per `w` seconds, `r` remaining and `t`
//! seconds to reset is under [Fields](self#fields) below.
//!
//! # Fields
//!
//! - GCRA: `q` is the burst and `w` the burst window (the time an emptied
//!   limit takes to refill), so `rate(100, 60s)` reads `q=100;w=60`.
//!   A fixed or sliding window: `q` is its limit, `w` its length. `w` is
//!   rounded up to whole seconds, at least 1.
//! - `r`: the requests that would pass now without waiting.
//! - `t`: seconds until the limit is whole again (a GCRA's theoretical
//!   arrival time less now; a fixed window's end; when a sliding window
//!   forgets the last counted request), rounded up.
//! - Status: a refusal is answered as the family's
//!   [table](ballast_core::answer) says for a server-side refusal: 429
//!   when the request may pass later, 400 when it never can
//!   ([`RetryAfter::Never`](crate::RetryAfter::Never): it asks for more
//!   than the limit holds), which a 429 would invite a client to retry.
//! - `Retry-After` (on 429s only): the exact wait until one request would
//!   pass, in seconds rounded up, never 0.
//!
//! Writing the fields on an admitted response costs a small allocation
//! (the `RateLimit` value is formatted per response); turn it off with
//! [`HttpConfigBuilder::on_admitted`].
//!
//! ```
//! use ballast_ratelimit::http::{HttpConfig, key};
//! use ballast_ratelimit::{Config, KeyedRateLimiter};
//! use http::{HeaderName, Request, Response, StatusCode};
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), ballast_ratelimit::ConfigError> {
//! // Per client: 2 requests a minute.
//! let limiter = KeyedRateLimiter::new(Config::builder().rate(2, Duration::from_secs(60)).build()?);
//! let client_id = key::header(HeaderName::from_static("x-client-id"));
//! let app = ServiceBuilder::new()
//!     .layer(limiter.http_layer(client_id, HttpConfig::default()))
//!     .service(service_fn(|_: Request<String>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("hello")))
//!     }));
//!
//! let req = || Request::builder().header("x-client-id", "alice").body(String::new()).unwrap();
//! let ok = app.clone().oneshot(req()).await.unwrap();
//! assert_eq!(ok.headers()["ratelimit"], "\"default\";r=1;t=30");
//! app.clone().oneshot(req()).await.unwrap();
//! let refused = app.clone().oneshot(req()).await.unwrap();
//! assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(refused.headers()["retry-after"], "30");
//! assert_eq!(refused.headers()["ratelimit-policy"], "\"default\";q=2;w=60");
//! assert_eq!(refused.headers()["ratelimit"], "\"default\";r=0;t=60");
//! # Ok(()) }
//! ```

mod body;
mod config;
mod future;
mod headers;
pub mod key;
mod layer;
#[cfg(feature = "redis")]
mod redis;
mod service;

pub use body::{DefaultBody, RejectBody};
pub use config::{HeaderStyle, HttpConfig, HttpConfigBuilder};
pub use future::HttpResponseFuture;
pub use headers::{
    RATELIMIT, RATELIMIT_LIMIT, RATELIMIT_POLICY, RATELIMIT_REMAINING, RATELIMIT_RESET,
};
pub use layer::HttpRateLimitLayer;
#[cfg(feature = "redis")]
pub use redis::{HttpRedisRateLimit, HttpRedisRateLimitLayer, HttpRedisResponseFuture};
pub use service::HttpRateLimit;

//! The guide: in which order to stack the layers, and why.
//!
//! The question users of every resilience library ask first. Each layer
//! only sees what reaches it, so the order decides what a retry costs,
//! what the breaker counts and who waits for what. Below, the order we
//! recommend for a client calling one dependency and for a server in
//! front of its handlers, outermost first, and the orders to avoid.
//!
//! # Client side: calling a dependency
//!
//! | layer | facade method | why here |
//! |---|---|---|
//! | deadline for the whole call | `.with_deadline(config)` | outermost, so it binds every layer below: retry starts no attempt that cannot finish, a waiting limiter or queue gives up at once when the wait would pass it |
//! | retry | `.with_retry_policy(&policy)` | above the breaker, so the breaker counts every attempt; above the limiter and the bulkhead, so a call sleeping in its backoff holds neither a cell nor a permit |
//! | circuit breaker | `.with_circuit_breaker(&breaker)`; `.with_http_circuit_breaker(&breaker)` for an HTTP client (feature `http`: a 5xx or 429 is a failure) | sees each attempt's outcome, and refuses while open; retry gets the typed refusal and never retries it before its retry-after |
//! | rate limiter | `.with_rate_limiter(&limiter)` | above the bulkhead: a call waiting for a cell holds no concurrency permit meanwhile |
//! | bulkhead | `.with_bulkhead(&bulkhead)` | caps the attempts really in flight toward the dependency |
//! | one attempt's deadline, sent | `.with_client_deadline(config)` (feature `http`) | innermost, right above the client: each attempt tells the callee what is left *at that moment* and stops waiting when it is up; `.with_deadline(config)` alone for a client that is not HTTP |
//!
//! What holds whatever the order (`stacks/tests` checks each point): a
//! refusal from a layer below reaches the caller as a typed [`Rejected`]
//! ([`Rejected::find`] digs it out); a breaker does not count a refusal
//! from below (a full bulkhead is not the dependency failing) except a
//! passed deadline; a cancelled call holds nothing.
//!
//! ```
//! use ballast::prelude::*;
//! use ballast::{bulkhead, circuit_breaker, deadline, ratelimit, retry};
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let breaker = Breaker::new(circuit_breaker::Config::builder().name("stock").build()?);
//! let limiter = RateLimiter::new(
//!     ratelimit::Config::builder().rate(100, Duration::from_secs(1)).build()?,
//! );
//! let permits = Bulkhead::new(bulkhead::Config::builder().max_concurrent_calls(16).build()?);
//! let policy = retry::Policy::new(
//!     retry::Config::builder().max_attempts(3).build()?,
//!     retry::RetryErrors, // every `Err` is worth another try here
//! );
//!
//! // A dependency that fails twice, then answers.
//! let calls = Arc::new(AtomicU32::new(0));
//! let stock = service_fn({
//!     let calls = calls.clone();
//!     move |item: u32| {
//!         let n = calls.fetch_add(1, Ordering::SeqCst);
//!         async move {
//!             if n < 2 {
//!                 return Err(std::io::Error::other("connection reset"));
//!             }
//!             Ok(item * 10)
//!         }
//!     }
//! });
//!
//! let client = ServiceBuilder::new()
//!     .with_deadline(deadline::Config::with_timeout(Duration::from_secs(2))?) // the whole call
//!     .with_retry_policy(&policy)
//!     .with_circuit_breaker(&breaker)
//!     .with_rate_limiter(&limiter)
//!     .with_bulkhead(&permits)
//!     .with_deadline(deadline::Config::with_timeout(Duration::from_millis(500))?) // one attempt
//!     .service(stock);
//!
//! assert_eq!(client.oneshot(7).await?, 70);
//! // Below the retry, the breaker saw every attempt: two failures, one success.
//! let m = breaker.metrics();
//! assert_eq!((m.calls, m.failures), (3, 2));
//! assert_eq!(policy.metrics().attempts, 3);
//! # Ok(()) }
//! ```
//!
//! With a single ballast crate and no facade, each line is
//! `.layer(x.layer())` (`TimeoutLayer::new(config)` for a deadline,
//! `ClientDeadlineLayer::new(config)` for the one that is also sent).
//! For reqwest as the client, with the HTTP classifiers, see the section
//! "reqwest as the client" below (feature `reqwest`).
//!
//! # Server side: in front of the handlers
//!
//! | layer | facade method | why here |
//! |---|---|---|
//! | error handler | `HandleErrorLayer::new(ballast::axum::handle_error)` (feature `axum`) | outermost: every refusal below becomes its status (429, 503, 504, with `Retry-After` when known), anything else a 500 |
//! | rate limit per client | `.with_keyed_rate_limiter(&per_client, key)` | the cheapest refusal first: a client over its limit costs nothing further (429) |
//! | load shedding | `.with_load_shedder(&shedder, priority)` | sheds the lowest priorities when the server is overloaded (503), before their work starts |
//! | the caller's deadline | `.with_received_deadline(config)` (feature `http`) | innermost, around the handler: reads the budget the caller sent, refuses a request that arrived expired (504), cancels the handler at the deadline, and runs it under that deadline so its own client calls pass the rest on |
//!
#![cfg_attr(feature = "axum", doc = include_str!("guide_axum.md"))]
//!
//! A handler answering for a failed dependency call passes
//! [`Side::Client`] (or uses `ballast::axum::handle_dependency_error`): our
//! own limit toward a dependency reaches our caller as a 503, never as a
//! 429 that blames them.
//!
//! # Orders to avoid
//!
//! - **Breaker above retry**: the breaker sees one outcome per call, not
//!   per attempt, so it trips several times later than it should, and the
//!   retries keep hammering a dependency it would have cut off.
//! - **Bulkhead above retry**: a call sleeping in its backoff keeps its
//!   permit, and other calls are refused meanwhile.
//! - **Rate limiter below the bulkhead**: a call waiting for a cell holds a
//!   concurrency permit while it waits.
//! - **A per-attempt timeout without an outer deadline**: each attempt is
//!   bounded, the call as a whole only by `max_attempts` and
//!   `max_total_time`.
//! - **Sending the deadline without enforcing it**: `SendDeadlineLayer`
//!   alone tells the callee its budget but the client still waits for an
//!   answer that may never come; `.with_client_deadline(config)` does
//!   both.
//!
#![cfg_attr(feature = "reqwest", doc = include_str!("guide_reqwest.md"))]
//!
//! [`Rejected`]: crate::Rejected
//! [`Rejected::find`]: crate::Rejected::find
//! [`Side::Client`]: crate::Side::Client

//! Retries that do not make an outage worse: backoff with jitter, a retry
//! budget shared by every caller of a dependency, and stop conditions
//! that respect the call's deadline.
//!
//! Retrying hides a dependency's brief failures from users, but every
//! retry is extra load at the moment the dependency can least take it: a
//! naive policy of 3 attempts triples the load on a service that is
//! already failing (a retry storm). ballast's retry is safe by default:
//!
//! - nothing is retried unless a [`Classifier`] calls the result
//!   transient;
//! - a [`RetryBudget`] (on by default: 20% of requests plus 10 a second,
//!   over 10 s) caps the extra load; with the budget spent a call returns
//!   its error at once;
//! - delays grow with [`Backoff`] and are spread by [`Jitter`] applied
//!   after the cap;
//! - no retry starts that cannot finish before the call's
//!   [`Deadline`](ballast_deadline::Deadline), and no backoff sleeps past
//!   it.
//!
//! ```
//! use ballast_retry::{Action, Backoff, BoxError, Config, Policy};
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! // Only "503 unavailable" is worth another try.
//! let policy = Policy::new(
//!     Config::builder()
//!         .max_attempts(3)
//!         .backoff(Backoff::exponential(Duration::from_millis(100)).build()?)
//!         .build()?,
//!     |r: &Result<u16, std::io::Error>| match r {
//!         Ok(503) => Action::Retry,
//!         _ => Action::Return,
//!     },
//! );
//!
//! // A dependency that is unavailable twice, then answers.
//! let calls = Arc::new(AtomicU32::new(0));
//! let flaky = service_fn({
//!     let calls = calls.clone();
//!     move |_: &str| {
//!         let n = calls.fetch_add(1, Ordering::Relaxed);
//!         async move { Ok::<u16, std::io::Error>(if n < 2 { 503 } else { 200 }) }
//!     }
//! });
//! let mut client = ServiceBuilder::new().layer(policy.layer()).service(flaky);
//!
//! let status = client.ready().await?.call("GET /items").await?;
//! assert_eq!(status, 200);
//! let m = policy.metrics();
//! assert_eq!((m.calls, m.attempts, m.retries), (1, 3, 2));
//! # Ok(()) }
//! ```
//!
//! # What's here
//!
//! - [`Backoff`] / [`BackoffBuilder`] / [`Jitter`] / [`Delays`]: constant,
//!   linear and exponential delays with none, full, equal or decorrelated
//!   jitter, as plain (seedable) iterators.
//! - [`RetryBudget`] / [`BudgetConfig`]: Finagle's retry budget, a value of
//!   its own that any number of policies can share.
//! - [`Config`] / [`ConfigBuilder`]: attempts, backoff, total time, the
//!   least time an attempt needs, the budget; invalid settings are a
//!   [`ConfigError`].
//! - [`Classifier`] / [`Action`] / [`RetryErrors`]: what is transient;
//!   [`CloneRequest`] / [`CloneRequests`] / [`Resendable`] /
//!   [`AnyRequests`]: which requests can be sent again (by default, never
//!   an HTTP request that is not idempotent).
//! - [`Policy`]: the shared policy and its [`Metrics`]; [`retry`] (the
//!   plain async helper, with [`CallError`]).
//! - [`RetryLayer`] / [`Retry`] / [`ResponseFuture`]: the tower layer;
//!   [`AsRetryLayer`]: what the `ballast` facade's
//!   `.with_retry_policy(&policy)` takes (`.with_hedge_policy(&hedge_policy)`
//!   for hedging); with this crate alone, `.layer(policy.layer())`.
//! - [`http`] (feature `http`): [`HttpClassifier`](http::HttpClassifier)
//!   (429, 502, 503, 504, `Retry-After`) and
//!   [`IdempotentRequests`](http::IdempotentRequests), both for
//!   `reqwest` too with feature `reqwest`; [`grpc`]: status
//!   codes and classifiers after gRPC's retry design;
//!   [`TransientError`] / [`ConnectionErrors`]: which errors they retry.
//! - [`HedgePolicy`] / [`HedgeConfig`] / [`HedgeDelay`]: hedging, with
//!   its [`HedgeMetrics`]; [`HedgeLayer`] / [`Hedge`] / [`HedgeFuture`]
//!   (the tower layer) and [`hedge()`] (the plain async helper).
//!
//! # Deadlines
//!
//! The layer reads each request's deadline like ballast-deadline's
//! `Timeout` does (the task's current one by default, or a
//! [`DeadlineSource`](ballast_deadline::DeadlineSource)); the helper reads
//! the task's. Before each retry it compares the time left with the
//! backoff plus what an attempt needs (the configured
//! [`min_attempt_time`](ConfigBuilder::min_attempt_time), or the previous
//! attempt's duration if longer): it shortens the backoff to fit, and if
//! even an immediate attempt could not finish it stops at once and hands
//! back the last attempt's outcome (as it does when the attempts or the
//! budget run out: stopping never replaces a real answer with a made-up
//! error). Only a [`retry`] helper call whose deadline has already passed
//! when it begins makes no attempt and ends with the deadline's
//! rejection, a [`Rejected`] with [`Reason::DeadlineExceeded`]; the layer
//! leaves refusing such requests to the deadline layer below it
//! (ballast-deadline's `Timeout`), which does it without calling the
//! service.
//!
//! # Refusals from the layers below
//!
//! An attempt may be refused by another ballast layer below this one (an
//! open circuit, a full bulkhead, a rate limit): its error is a
//! [`Rejected`], itself, boxed in a [`BoxError`], or anywhere in the
//! error's source chain (for the plain helpers, whose error type has no
//! bounds: a `Rejected`, a boxed error or an `io::Error` holding one).
//! Whatever the classifier says, the retry loop then keeps the refusal's
//! rule, the same for every classifier:
//!
//! - a permanent refusal ([`RetryAfter::Never`]) is never retried;
//! - any other is retried only if the classifier says so, and not before
//!   its retry-after (the backoff's delay is raised to it), nor at all
//!   when that lies past the deadline or the total time limit;
//! - when the call ends on a refusal after an attempt that was not
//!   refused, the caller gets that attempt's outcome (the real answer or
//!   failure of the dependency), not the refusal. A call whose every
//!   attempt was refused ends with the last refusal, as it came.
//!
//! Hedging keeps the same rule: a refused attempt does not win the race
//! while another attempt is in flight, and no backup follows it.
//!
//! ballast-retry itself refuses nothing for want of budget: with the
//! budget spent, a call ends with its last real outcome (or, if every
//! attempt was refused below, the refusal it got), and a hedge without
//! budget simply sends no backup: a spent budget is never a refusal of
//! its own (the family has no such [`Reason`]). The only [`Rejected`] this
//! crate makes itself is the helper's [`Reason::DeadlineExceeded`] for a
//! deadline already past.
//!
//! | [`Reason`] | made by | when | [`RetryAfter`] |
//! |---|---|---|---|
//! | `DeadlineExceeded` | [`retry`] (the helper) | its call begins with its deadline already past | `Unknown` |
//! | any | the layers below | passed through as it came, when every attempt was refused | as it came |
//!
//! # Hedging
//!
//! For idempotent calls whose latency has a long tail, a [`HedgePolicy`]
//! sends a backup request when the first attempt has not answered after a
//! delay ([`HedgeDelay::Fixed`], or a percentile of the latencies it
//! measured recently), and the first answer wins: the other attempts are
//! dropped. Backups draw on a budget of their own (10% extra load plus 1
//! a second by default) or on one shared with a retry policy
//! ([`HedgePolicy::with_budget`]), are never sent for a request that
//! cannot be copied, and never when the deadline leaves them no time.
//! What a call costs is on [`HedgePolicy`]; a file's form of the settings
//! on [`HedgeConfig`].
//!
//! ```
//! use ballast_retry::{HedgeConfig, HedgeDelay, HedgePolicy};
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let policy = HedgePolicy::new(
//!     HedgeConfig::builder()
//!         .delay(HedgeDelay::Fixed(Duration::from_millis(20)))
//!         .build()?,
//! );
//! // A replica that is slow for "/slow" the first time only.
//! let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
//! let replica = service_fn({
//!     let calls = calls.clone();
//!     move |path: &'static str| {
//!         let n = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
//!         async move {
//!             let ms = if path == "/slow" && n == 0 { 2_000 } else { 5 };
//!             tokio::time::sleep(Duration::from_millis(ms)).await;
//!             Ok::<_, std::io::Error>(n)
//!         }
//!     }
//! });
//! let mut client = ServiceBuilder::new().layer(policy.layer()).service(replica);
//!
//! let started = tokio::time::Instant::now();
//! let answer = client.ready().await?.call("/slow").await?;
//! // The backup (call 1) answered 20 ms + 5 ms after the start.
//! assert_eq!(answer, 1);
//! assert_eq!(started.elapsed(), Duration::from_millis(25));
//! assert_eq!(policy.metrics().hedges_won, 1);
//! # Ok(()) }
//! ```
//!
//! # Config files
//!
//! With feature `serde`, a [`Config`] is `Deserialize`. Every field is
//! optional (a missing one keeps the default); the values are checked like
//! the builders' (an invalid one is a deserialization error carrying the
//! [`ConfigError`] message) and an unknown field is an error. Durations are
//! written `"30s"`, `"1m30s"`, `"250ms"`, or as a number of seconds.
//!
//! ```json
//! {
//!     "max_attempts": 4,
//!     "backoff": {
//!         "kind": "exponential",
//!         "base": "50ms",
//!         "factor": 2.0,
//!         "cap": "2s",
//!         "jitter": "full"
//!     },
//!     "max_total_time": "5s",
//!     "min_attempt_time": "10ms",
//!     "budget": { "percent": 20, "min_per_second": 10, "window": "10s", "buckets": 10 },
//!     "seed": 42
//! }
//! ```
//!
//! `backoff.kind` is `"constant"`, `"linear"` or `"exponential"` and
//! `base` is required; `factor` (exponential only), `cap` and `jitter`
//! (`"none"`, `"full"`, `"equal"` or `"decorrelated"`) are optional.
//! `budget` is a map whose fields are all optional, or `"off"` for no
//! budget.
//!
//! # Cost
//!
//! A call that succeeds at once allocates nothing. It deposits in the
//! budget (a plain load and store on the calling thread's own stripe of
//! a count, no locked instruction; the clock is read once every 64
//! deposits), reads the task's deadline once, copies
//! its request, emits its first attempt's TRACE event (one load of
//! tracing's level when nothing listens), and reads the clock only if it
//! has a deadline or the policy a total time limit. Its future holds the
//! policy by an `Arc` (one reference-count increment and decrement per
//! call, shared by every clone of the service). A clone of the service,
//! as a server makes per request, is one more increment. Randomness, timers
//! and their allocations come only when a call retries.
//!
//! Measure it beside tower's `Retry` and tower-resilience with `cargo
//! bench -p ballast-benches --bench hot_paths` (both shapes, one and two
//! tasks, the real clock); read the difference to the bare service.
//!
//! # Metrics (feature `metrics`)
//!
//! Each [`Policy`] reports its calls (by outcome), its retries, its
//! give-ups (by reason), its budget's refusals and what its budget has
//! left, and each [`HedgePolicy`] the hedges it sent, through the
//! [`metrics`](https://docs.rs/metrics) facade under the family's names
//! ([`ballast_core::metric_names`], with a `name` label: the config's
//! name). The series are registered when the policy is built, so install
//! the recorder first. A call that succeeds at once bumps one counter
//! more: tens of nanoseconds at most per call on a busy machine, measured
//! by `benches/metrics_cost.rs` (run it with and without the feature and
//! compare the rows, also through a clone of the policy per call).
//! Without the feature nothing of it is compiled.
#![warn(missing_docs)]

mod backoff;
mod budget;
mod builder;
mod call;
mod classify;
mod config;
#[cfg(feature = "serde")]
mod config_serde;
mod error;
#[cfg(feature = "metrics")]
mod export;
mod future;
pub mod grpc;
mod hedge;
#[cfg(feature = "http")]
pub mod http;
mod layer;
#[cfg(all(test, ballast_loom))]
mod loom_models;
mod metrics;
mod plan;
mod policy;
mod rare;
mod refusal;
mod service;
mod sync;
mod transient;

pub use backoff::{Backoff, BackoffBuilder, DEFAULT_CAP, Delays, Jitter};
pub use ballast_core::{ConfigError, Reason, Rejected, RetryAfter};
pub use budget::{BudgetConfig, BudgetConfigBuilder, MAX_BUCKETS, RetryBudget};
pub use builder::AsRetryLayer;
pub use call::retry;
pub use classify::{
    Action, AnyRequests, Classifier, CloneRequest, CloneRequests, Resendable, RetryErrors,
};
pub use config::{Config, ConfigBuilder};
pub use error::CallError;
pub use future::ResponseFuture;
pub use hedge::{
    Hedge, HedgeConfig, HedgeConfigBuilder, HedgeDelay, HedgeFuture, HedgeLayer, HedgeMetrics,
    HedgePolicy, MAX_HEDGES, hedge,
};
pub use layer::RetryLayer;
pub use metrics::Metrics;
pub use policy::Policy;
pub use service::{BoxError, Retry};
pub use transient::{AllErrors, ConnectionErrors, NoErrors, TransientError, is_connection_error};

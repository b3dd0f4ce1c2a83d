//! A circuit breaker: stop calling a dependency that is failing, give it
//! room to recover, and find out when it has.
//!
//! Wrap a client in a [`Breaker`]. While calls succeed the circuit is
//! *closed* and costs a few nanoseconds per call. When the share of failed
//! (or slow) calls in a sliding window reaches a threshold, the circuit
//! *opens*: calls are refused at once with a typed [`Rejected`] that says
//! how long until the breaker tries again, instead of piling onto a
//! dependency that is down. After a wait it goes *half-open* and lets a
//! few probe calls through; if they succeed it closes (optionally ramping
//! traffic back up gradually), otherwise it opens again, for longer if so
//! configured.
//!
//! ```
//! use ballast_circuit_breaker::{Breaker, Config, Rejected, SlidingWindow};
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), ballast_circuit_breaker::BoxError> {
//! let breaker = Breaker::new(
//!     Config::builder()
//!         .name("inventory")
//!         .sliding_window(SlidingWindow::count(20))
//!         .minimum_calls(4)
//!         .failure_rate_threshold(50.0)
//!         .wait_in_open(Duration::from_secs(10))
//!         .build()?,
//! );
//! breaker.on_state_change(|e| println!("{}: {} -> {}", e.name, e.from, e.to));
//!
//! // A dependency that is down.
//! let flaky = service_fn(|_: &str| async { Err::<&str, _>(std::io::Error::other("refused")) });
//! let mut client = ServiceBuilder::new().layer(breaker.layer()).service(flaky);
//!
//! for _ in 0..4 {
//!     let err = client.ready().await?.call("GET /items").await.unwrap_err();
//!     assert!(err.downcast_ref::<Rejected>().is_none()); // the dependency's own error
//! }
//! // Four failures out of four calls: the circuit is open and calls are refused.
//! let err = client.ready().await?.call("GET /items").await.unwrap_err();
//! let rejected = err.downcast_ref::<Rejected>().expect("refused by the breaker");
//! assert_eq!(rejected.retry_after_hint(), Some(Duration::from_secs(10)));
//! assert_eq!(breaker.metrics().rejected, 1);
//! # Ok(()) }
//! ```
//!
//! # What's here
//!
//! - [`Config`] / [`ConfigBuilder`]: windows ([`SlidingWindow`]), thresholds,
//!   slow calls, open wait and its [`OpenBackoff`], half-open probes,
//!   [`GradualRecovery`]; invalid settings are a [`ConfigError`]. With
//!   feature `serde` a config deserializes from a file.
//! - [`Breaker`]: the shared breaker and operator handle: state,
//!   [`Metrics`], controls, [`StateChange`] listeners; the async helper
//!   [`Breaker::call`]; [`Permit`]s for manual use.
//! - [`CircuitBreakerLayer`] / [`CircuitBreaker`]: the tower layer and
//!   service; a [`Classifier`] decides what counts as a failure. Stack it
//!   with `.layer(breaker.layer())`, or `.with_circuit_breaker(&breaker)`
//!   from the `ballast` facade's `ServiceBuilderExt`.
//! - [`http`] (feature `http`): [`HttpClassifier`](http::HttpClassifier),
//!   counting 5xx and 429 responses and failed exchanges as failures, for
//!   `http::Response` and (feature `reqwest`) `reqwest::Response`.
//! - [`keyed`]: one breaker per key (host, endpoint, tenant), with idle
//!   keys evicted.
//! - [`State`]: closed, open, half-open, recovering, and the operator
//!   states disabled, forced-open and metrics-only.
//!
//! # Refusals
//!
//! A call the breaker refuses fails with [`Rejected`] (boxed into
//! [`BoxError`] by the layer), never reaching the service:
//!
//! | [`Reason`] | when | [`RetryAfter`] |
//! |---|---|---|
//! | `CircuitOpen` | the circuit is open and its wait has not elapsed | `After`: until it goes half-open |
//! | `CircuitHalfOpenBusy` | half-open, and every probe slot is taken | `Unknown` |
//! | `CircuitRecovering` | recovering gradually, and this call fell outside the share now admitted | `After`: until the ramp ends |
//! | `CircuitForcedOpen` | an operator forced the circuit open | `Unknown` |
//!
//! The keyed breaker refuses the same way, per key. A refusal from a layer
//! below the breaker passes through and is not counted as a failure.
//! A server answers each of them as the table in `ballast_core::answer`
//! says (feature `http` or `tonic` of ballast-core, or of the `ballast`
//! facade).
//!
//! # Cost
//!
//! A call through a closed breaker allocates nothing. It reads the
//! breaker's state word once when admitted and once when it records, and
//! its future holds the breaker by an `Arc` (one reference-count
//! increment and decrement). With a count window that has filled, a
//! success after successes writes nothing: only an outcome that changes
//! the window's record (a failure, a slow call, the first successes
//! after them) writes to it. The clock (a
//! [`HotClock`](ballast_core::HotClock): the CPU's time-stamp counter)
//! is read only for a time window or with slow-call tracking on. A clone of the service, as a server makes per
//! request, is one more increment. A keyed breaker adds the lookup of
//! the key's breaker.
//!
//! Measure it beside recloser with `cargo bench -p ballast-benches
//! --bench hot_paths` (both shapes, one and two tasks, the real clock).
//!
//! # Metrics (feature `metrics`)
//!
//! Each breaker reports its calls (by outcome), its refusals (by reason),
//! its state (one gauge per state, 1 for the current one) and its
//! transitions through the [`metrics`](https://docs.rs/metrics) facade,
//! under the family's names ([`ballast_core::metric_names`], with a
//! `name` label: the breaker's configured name). The series are
//! registered when the breaker is built, so install the recorder first.
//! Without the feature nothing of it is compiled.
//!
//! A [`keyed`] registry reports as one, under its config's name, however
//! many keys it holds: its keys' calls, refusals and transitions summed,
//! and instead of the state gauge, how many keys are in each state
//! (`ballast_circuit_breaker_keys`), exact as keys trip, recover, arrive
//! and are evicted. No series is made per key (a registry may hold tens
//! of thousands), and a new key registers nothing: its breaker reports
//! through the registry's handles.
//!
//! A call then bumps one counter more (by outcome): with no recorder
//! installed, nothing measurable; under a recorder whose handles are
//! atomics, one atomic add; a real exporter's handles may cost more.
//! Measure it with `benches/metrics_cost.rs` (the closed path, and a
//! keyed registry's with its lookup; run it with and without the feature
//! and compare the rows).
//!
//! # Config files (feature `serde`)
//!
//! [`Config`] implements `Deserialize` and `Serialize`. Every field is
//! optional (a missing one keeps its default), unknown fields are errors,
//! values are validated exactly like the builder's, and durations are
//! human-readable:
//!
//! ```json
//! {
//!   "name": "inventory",
//!   "failure_rate_threshold": 50,
//!   "slow_call_rate_threshold": 80,
//!   "slow_call_duration": "2s",
//!   "sliding_window": { "type": "time", "duration": "60s", "buckets": 12 },
//!   "minimum_calls": 20,
//!   "wait_in_open": "30s",
//!   "open_backoff": { "multiplier": 2.0, "max": "5m", "jitter": 0.2 },
//!   "half_open_permits": 5,
//!   "max_wait_in_half_open": "1m",
//!   "automatic_half_open": true,
//!   "gradual_recovery": { "duration": "1m", "start_percent": 10 },
//!   "cancelled_is_failure": false
//! }
//! ```
//!
//! A count window is `{ "type": "count", "size": 100 }`.
//!
//! # Rules the breaker keeps
//!
//! - The closed path takes no lock and allocates nothing.
//! - Each transition happens exactly once however many callers race to
//!   make it; half-open never admits more probes than configured.
//! - A permit records exactly one outcome however its call ends:
//!   completed, failed, cancelled (counted as nothing by default) or
//!   panicked (a failure). A cancelled probe always gives its slot back.
//! - Rejections are [`Rejected`], shared by every ballast crate, with the
//!   time until the breaker may let calls through again.
#![warn(missing_docs)]

mod backoff;
mod breaker;
mod call;
mod classify;
mod config;
#[cfg(feature = "serde")]
mod config_serde;
mod core;
mod error;
mod events;
#[cfg(feature = "metrics")]
mod export;
mod future;
mod half_open;
#[cfg(feature = "http")]
pub mod http;
pub mod keyed;
mod layer;
#[cfg(all(test, ballast_loom))]
mod loom_models;
mod metrics;
mod permit;
mod recovery;
mod service;
mod state;
mod sync;
mod window;

pub use ballast_core::{ConfigError, Reason, Rejected, RetryAfter};
pub use breaker::Breaker;
pub use classify::{Classifier, ErrorsAreFailures, Outcome};
pub use config::{
    Config, ConfigBuilder, GradualRecovery, MAX_COUNT_WINDOW, MAX_HALF_OPEN_PERMITS,
    MAX_TIME_BUCKETS, OpenBackoff, SlidingWindow,
};
pub use error::CallError;
pub use events::{Cause, StateChange};
pub use future::ResponseFuture;
pub use layer::CircuitBreakerLayer;
pub use metrics::Metrics;
pub use permit::Permit;
pub use service::{BoxError, CircuitBreaker};
pub use state::State;

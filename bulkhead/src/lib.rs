//! A fixed bulkhead: cap how many calls are in flight toward a dependency,
//! so a slow dependency ties up a bounded share of your tasks, connections
//! and memory instead of all of them.
//!
//! A [`Bulkhead`] holds `max_concurrent_calls` permits, shared by every
//! clone and every service layered with it. A call takes a permit when it
//! starts and gives it back when it finishes or is dropped. A call that
//! finds none is refused at once with a typed [`Rejected`]
//! ([`Reason::BulkheadFull`]: "not now") or, if configured, waits up to
//! `max_wait` in a bounded FIFO queue ([`Reason::QueueFull`] when the queue
//! is full, [`Reason::QueueTimeout`] when it waited too long); with a
//! queue length and no `max_wait`, it waits until its deadline. Waiting
//! never outlasts the call's [`Deadline`](ballast_deadline::Deadline)
//! ([`Reason::DeadlineExceeded`]). Taking and giving back a permit while
//! nobody waits is one compare-and-swap each.
//!
//! ```
//! use ballast_bulkhead::{Bulkhead, Config, Reason, Rejected};
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), ballast_bulkhead::BoxError> {
//! let bulkhead = Bulkhead::new(
//!     Config::builder()
//!         .name("inventory")
//!         .max_concurrent_calls(2)
//!         .build()?,
//! );
//! // A dependency that takes a second to answer.
//! let slow = service_fn(|req: &'static str| async move {
//!     tokio::time::sleep(Duration::from_secs(1)).await;
//!     Ok::<_, std::io::Error>(req.len())
//! });
//! let mut client = ServiceBuilder::new().layer(bulkhead.layer()).service(slow);
//!
//! let first = client.ready().await?.call("GET /items");
//! let second = client.ready().await?.call("GET /items/7");
//! // Two calls in flight: a third is refused at once.
//! let err = client.ready().await?.call("GET /items/8").await.unwrap_err();
//! let rejected = err.downcast_ref::<Rejected>().expect("refused by the bulkhead");
//! assert_eq!(rejected.reason(), Reason::BulkheadFull);
//!
//! assert_eq!(first.await?, 10);
//! assert_eq!(second.await?, 12);
//! let snapshot = bulkhead.snapshot();
//! assert_eq!((snapshot.in_flight, snapshot.limit, snapshot.rejected), (0, 2, 1));
//! # Ok(()) }
//! ```
//!
//! # What's here
//!
//! - [`Config`] / [`ConfigBuilder`]: limit, wait, queue length, shadow
//!   mode (record what would be refused, admit everything); invalid
//!   settings (a zero limit) are a [`ConfigError`].
//! - [`Bulkhead`]: the shared limiter and handle: [`Snapshot`] of in
//!   flight, queued, limit and rejected; the async helper
//!   [`Bulkhead::call`].
//! - [`BulkheadLayer`] / [`FixedBulkhead`] / [`ResponseFuture`]: the tower
//!   layer, service and future. The permit is taken in `call`, not
//!   `poll_ready` (see [`FixedBulkhead`] for why).
//! - [`shed`]: load shedding with priorities: when saturated, refuse at
//!   once ([`Reason::Overloaded`]), lowest priority first; never queue.
//! - [`adaptive`]: adaptive concurrency: a limit that follows what the
//!   dependency can take (Vegas, Gradient2, AIMD or your own
//!   [`LimitAlgorithm`](adaptive::LimitAlgorithm)), measured from round
//!   trips and drops; refusals are [`Reason::Overloaded`].
//! - [`partitioned`]: a bulkhead whose limit is split between partitions
//!   (tenants, priority classes), each guaranteed its share, idle shares
//!   lent and returned as their owners need them.
//! - Each is stacked with `.layer(bulkhead.layer())` (`layer(key)`,
//!   `layer(priority)`); the `ballast` facade's `ServiceBuilderExt` adds
//!   `.with_bulkhead(&bulkhead)`, `.with_partitioned_bulkhead(&bulkhead,
//!   key)`, `.with_load_shedder(&shedder, priority)` and
//!   `.with_adaptive_limiter(&limiter)` to tower's `ServiceBuilder`.
//! - Rejections are [`Rejected`], shared by every ballast crate; each one
//!   is also a `tracing` debug event.
//!
//! # Refusals
//!
//! Every refusal is a [`Rejected`] (boxed into [`BoxError`] by the
//! layers); none is permanent:
//!
//! | [`Reason`] | layer | when | `RetryAfter` |
//! |---|---|---|---|
//! | `BulkheadFull` | fixed, partitioned | no permit free (for a partition: its share and what it may borrow are taken), and the call may not wait | `Unknown` |
//! | `QueueFull` | fixed | no permit free and the wait queue is full | `Unknown` |
//! | `QueueTimeout` | fixed | it waited `max_wait` in the queue without a permit | `Unknown` |
//! | `DeadlineExceeded` | fixed | its deadline passed while it waited in the queue, or it would before `max_wait` | `Unknown` |
//! | `Overloaded` | shed | the calls in flight reached its priority's share of the limit | `Unknown` |
//! | `Overloaded` | adaptive | the adaptive limit is reached | `After`: about one round trip, once one is measured; `Unknown` before |
//!
//! A server answers each of them as the table in `ballast_core::answer`
//! says (feature `http` or `tonic` of ballast-core, or of the `ballast`
//! facade).
//!
//! # Shadow mode
//!
//! The fixed bulkhead, the partitioned bulkhead and the shedder each take
//! `shadow(true)` in their config: they decide every call as if enforcing
//! and count what they would have refused (the snapshot's
//! `would_have_rejected`, `would_have_queued`, `would_have_shed`; each
//! one also a `tracing` event), but admit everything at once. Run a new
//! limit in shadow mode on live traffic, read the counts, then turn it on.
//!
//! # Cost
//!
//! A call admitted at once allocates nothing. Through the fixed
//! bulkhead it is one compare-and-swap on the bulkhead's permit word to
//! take a permit and one to give it back when the call's future ends
//! (the future holds the bulkhead by an `Arc`: one reference-count
//! increment and decrement). The adaptive limiter also reads the clock
//! twice (a [`HotClock`](ballast_core::HotClock): the CPU's time-stamp
//! counter) to time the call, and adds the sample to its window. A clone
//! of the service, as a server makes per request, is one more increment.
//! Only a call that must queue allocates its place in the queue.
//!
//! Measure it beside tower's `ConcurrencyLimit` with `cargo bench -p
//! ballast-benches --bench hot_paths` (both shapes, one and two tasks,
//! the real clock).
//!
//! # Metrics (feature `metrics`)
//!
//! The fixed, partitioned and adaptive bulkheads and the load shedder
//! report their calls, refusals (by reason), calls in flight and limit
//! through the [`metrics`](https://docs.rs/metrics) facade under the
//! family's names ([`ballast_core::metric_names`], with a `name` label:
//! the config's name). The series are registered when the bulkhead is
//! built, so install the recorder first. Without the feature nothing of
//! it is compiled.
//!
//! An admitted call then makes three updates more (the calls counter,
//! the in-flight gauge up and down): with no recorder installed, nothing
//! measurable; under a recorder whose handles are atomics, three atomic
//! operations, which on the fixed bulkhead's short path is about as much
//! again as the call itself; a real exporter's handles may cost more.
//! Measure it with `benches/metrics_cost.rs` through the layers (run it
//! with and without the feature and compare the rows).
//!
//! # Config files
//!
//! With feature `serde`, a [`Config`] is `Deserialize` (and `Serialize`).
//! Every field is optional (a missing one keeps the default); the values
//! are checked like the builder's (an invalid one is a deserialization
//! error carrying the [`ConfigError`] message) and an unknown field is an
//! error. `max_wait` is written `"30s"`, `"250ms"`, `"1m30s"`, or as a
//! number of seconds.
//!
//! ```json
//! {
//!     "name": "inventory",
//!     "max_concurrent_calls": 10,
//!     "max_wait": "50ms",
//!     "max_queue_len": 20
//! }
//! ```
//!
//! Inside: `core` is the permit counter (one `AtomicU64`, a mutex-guarded
//! queue for waiters only; its module docs hold the implementation notes),
//! `permit` the permit and queue-slot guards, `sync` the std/loom shim.
#![warn(missing_docs)]

pub mod adaptive;
mod bulkhead;
mod config;
#[cfg(feature = "serde")]
mod config_serde;
mod core;
#[cfg(feature = "metrics")]
mod export;
mod future;
mod guarded;
mod layer;
#[cfg(all(test, ballast_loom))]
mod loom_models;
pub mod partitioned;
mod permit;
mod service;
pub mod shed;
mod sync;

pub use ballast_core::{ConfigError, Reason, Rejected};
pub use bulkhead::{Bulkhead, Snapshot};
pub use config::{Config, ConfigBuilder};
pub use future::ResponseFuture;
pub use layer::BulkheadLayer;
pub use service::{BoxError, FixedBulkhead};

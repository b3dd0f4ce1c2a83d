//! Load shedding with priorities: when the calls in flight reach a
//! priority's share of the limit, that priority's new calls are refused at
//! once with [`Reason::Overloaded`](ballast_core::Reason::Overloaded),
//! lowest priority first. Nothing queues (as tower's `load_shed`, but
//! counting calls in flight and weighing priorities).
//!
//! ```
//! use ballast_bulkhead::shed::{LoadShedder, Priority, ShedConfig};
//! use ballast_bulkhead::{Reason, Rejected};
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), ballast_bulkhead::BoxError> {
//! // Up to 10 calls; low-priority ones only while fewer than 6 run.
//! let shedder = LoadShedder::new(ShedConfig::builder().max_in_flight(10).build()?);
//! let slow = service_fn(|_: (Priority, u32)| async {
//!     tokio::time::sleep(Duration::from_secs(1)).await;
//!     Ok::<_, std::io::Error>(())
//! });
//! let mut svc = ServiceBuilder::new()
//!     .layer(shedder.layer(|req: &(Priority, u32)| req.0))
//!     .service(slow);
//!
//! let mut running = Vec::new();
//! for i in 0..6 {
//!     running.push(svc.ready().await?.call((Priority::Normal, i)));
//! }
//! // Six in flight: low priority is shed, high priority still admitted.
//! let err = svc.ready().await?.call((Priority::Low, 6)).await.unwrap_err();
//! assert_eq!(err.downcast_ref::<Rejected>().unwrap().reason(), Reason::Overloaded);
//! running.push(svc.ready().await?.call((Priority::High, 7)));
//! assert_eq!(shedder.snapshot().in_flight, 7);
//! assert_eq!(shedder.snapshot().shed_of(Priority::Low), 1);
//! # Ok(()) }
//! ```
//!
//! - [`Priority`] and [`Thresholds`]: the share of the limit each priority
//!   may fill; [`Thresholds::admits`] is the pure decision, reusable by
//!   any limiter.
//! - [`ShedConfig`] / [`ShedConfigBuilder`]: limit, thresholds, shadow mode.
//! - [`LoadShedder`]: the shared shedder and handle ([`ShedSnapshot`]),
//!   with the async helper [`LoadShedder::call`].
//! - [`LoadShedLayer`] / [`LoadShed`] / [`ShedFuture`]: the tower layer,
//!   service and future.
//!
//! With feature `serde`, a [`ShedConfig`] is `Deserialize` (and
//! `Serialize`), checked like the builder's, unknown fields refused; every
//! field is optional:
//!
//! ```json
//! {
//!     "name": "api",
//!     "max_in_flight": 200,
//!     "thresholds": { "critical": 100, "high": 90, "normal": 80, "low": 50 },
//!     "shadow": true
//! }
//! ```

mod config;
#[cfg(feature = "serde")]
mod config_serde;
mod layer;
#[cfg(all(test, ballast_loom))]
mod loom_models;
mod priority;
mod service;
mod shedder;

pub use config::{ShedConfig, ShedConfigBuilder};
pub use layer::LoadShedLayer;
pub use priority::{Priority, Thresholds};
pub use service::{LoadShed, ShedFuture};
pub use shedder::{LoadShedder, ShedSnapshot};

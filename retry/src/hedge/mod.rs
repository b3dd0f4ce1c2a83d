//! Hedging: when a call's first attempt is slow, send a backup request
//! and take whichever answers first.
//!
//! A hedge trades a little extra load for a shorter tail: most slow calls
//! are slow by bad luck (a long GC pause, a cold cache, a busy replica),
//! and a second try started after the usual latency mostly answers at the
//! usual latency. Dean and Barroso's "The Tail at Scale" hedges at the
//! 95th percentile, so about one call in twenty sends a backup.
//!
//! Safe by default, like the retries: a backup is sent only for a request
//! that can be copied ([`CloneRequest`](crate::CloneRequest)), only when
//! the hedge budget (a [`RetryBudget`](crate::RetryBudget), 10% extra load
//! plus 1 a second by default, shareable with a retry policy) allows it,
//! and only if the call's deadline leaves it time to answer.
//!
//! - `config`: [`HedgeDelay`] (fixed, or a percentile of measured
//!   latencies) and the validated [`HedgeConfig`]; `config_serde`: the
//!   same from a file.
//! - `latency`: the lock-free latency histogram behind percentile delays.
//! - `policy`: [`HedgePolicy`], the shared handle; `metrics`: its
//!   [`HedgeMetrics`].
//! - `race`: one call's attempts racing, and the timer that starts
//!   backups; `future`, `service`, `layer`: the tower layer; `call`: the
//!   [`hedge`] helper.
//!
//! What a call costs is documented on [`HedgePolicy`].

mod call;
mod config;
#[cfg(feature = "serde")]
mod config_serde;
mod future;
mod latency;
mod layer;
#[cfg(all(test, ballast_loom))]
mod loom_models;
mod metrics;
mod policy;
mod race;
mod service;

pub use call::hedge;
pub use config::{HedgeConfig, HedgeConfigBuilder, HedgeDelay, MAX_HEDGES};
pub use future::HedgeFuture;
pub use layer::HedgeLayer;
pub use metrics::HedgeMetrics;
pub use policy::HedgePolicy;
pub use service::Hedge;

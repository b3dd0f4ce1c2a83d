//! What every ballast crate shares, so users learn it once.
//!
//! - [`Rejected`]: the one error every ballast policy returns when it refuses
//!   a call (open circuit, full bulkhead, rate limit, passed
//!   deadline). Stacks box errors into `tower::BoxError`; users downcast to
//!   `Rejected` once, whatever layer refused, and read why and when to retry.
//! - [`BoxError`]: the boxed error every ballast layer returns, the same
//!   type as `tower::BoxError`; each crate re-exports this one.
//! - [`answer`] / [`Side`]: what a server answers for a refusal, as one
//!   table; with feature `http` a `Rejected` turns into an HTTP response
//!   (status, `Retry-After`), with feature `tonic` into a `tonic::Status`
//!   (code, `grpc-retry-pushback-ms`).
//! - [`CallError`]: what every crate's plain async helper returns on
//!   failure: refused by a policy, or the call's own error.
//! - [`ConfigError`]: what a builder returns for an invalid setting.
//! - [`Clock`] and [`Nanos`]: the seam between a policy core, which takes
//!   time as an argument, and the layer that reads tokio's clock;
//!   [`saturating_add`], the one way the family turns a configured
//!   duration into an instant (a `Duration::MAX` setting means "forever",
//!   never a panic); [`HotClock`], the time-stamp-counter clock policies
//!   read on their hot paths (tokio's clock while it is paused).
//! - [`sync`]: the loom-switchable mutex, cache padding and striped
//!   counter the policy cores share.
//! - `config_file` (feature `serde`): reading configs from files so a mistake names its
//!   key path (`retry.budget.percent`).
//! - [`metric_names`]: the names every pattern reports under through the
//!   `metrics` facade, as one table.
//! - [`duration`]: human-readable durations ("30s", "1m30s", "250ms") for
//!   config files.
//!
//! ```
//! use ballast_core::{Rejected, Reason};
//! use std::time::Duration;
//!
//! let err: Box<dyn std::error::Error + Send + Sync> =
//!     Box::new(Rejected::retry_after(Reason::CircuitOpen, Duration::from_secs(3)));
//! let rejected = err.downcast_ref::<Rejected>().expect("a ballast rejection");
//! assert_eq!(rejected.reason(), Reason::CircuitOpen);
//! assert_eq!(rejected.retry_after_hint(), Some(Duration::from_secs(3)));
//! assert_eq!(err.to_string(), "circuit open; retry after 3s");
//! ```
#![warn(missing_docs)]

pub mod answer;
mod call_error;
mod clock;
mod config_error;
#[cfg(feature = "serde")]
pub mod config_file;
pub mod duration;
#[cfg(feature = "tonic")]
pub mod grpc;
#[cfg(feature = "http")]
pub mod http;
pub mod metric_names;
mod rejected;
mod striped;
pub mod sync;
mod time;

pub use answer::Side;
pub use call_error::CallError;
pub use clock::HotClock;
pub use config_error::ConfigError;
pub use rejected::{Reason, Rejected, RetryAfter};

pub use time::{Clock, FAR_FUTURE, ManualClock, Nanos, TokioClock, nanos, saturating_add};

/// The error of a stacked ballast service: a boxed [`Rejected`] or the
/// inner service's own error. The same type as `tower::BoxError`, declared
/// once for the family; every ballast crate re-exports it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

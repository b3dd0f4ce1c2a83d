//! What the retry budget's concurrent core synchronises with: std's atomics, or
//! loom's under `cfg(ballast_loom)` so the loom models explore every
//! interleaving, plus the family's mutex and striped counter from
//! ballast-core. Code imports these only from here.

#[cfg(ballast_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(ballast_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

/// The family's mutex, for withdrawals and window rolls (never a
/// deposit), and the striped counter deposits go to (loom's atomics under
/// `cfg(ballast_loom)`: the models run the production counter).
pub(crate) use ballast_core::sync::{Mutex, StripedCounter};

/// The family's cache padding, for what every call reads beside a count
/// that calls on every core write.
pub(crate) use ballast_core::sync::CachePadded;

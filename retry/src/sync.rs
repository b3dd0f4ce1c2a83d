//! What the retry budget's concurrent core synchronises with: std's atomics, or
//! loom's under `cfg(ballast_loom)` so the loom models explore every
//! interleaving, plus the family's mutex and cache padding from
//! ballast-core. Code imports these only from here.

#[cfg(ballast_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(ballast_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

/// Thread locals: loom's under `cfg(ballast_loom)`, so each model thread
/// owns its deposit stripe (the one-writer-per-stripe rule).
#[cfg(ballast_loom)]
pub(crate) use loom::thread_local;
#[cfg(not(ballast_loom))]
pub(crate) use std::thread_local;

/// The family's mutex, for withdrawals and window rolls (never a
/// deposit), and cache padding.
pub(crate) use ballast_core::sync::{CachePadded, Mutex};

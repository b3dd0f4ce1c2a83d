//! What the breaker's concurrent core synchronises with: std's atomics, or
//! loom's under `cfg(ballast_loom)` so the loom models explore every
//! interleaving, plus the family's mutex and cache padding from
//! ballast-core. Code imports these only from here.

#[cfg(ballast_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

#[cfg(not(ballast_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

/// The family's mutex, for transitions and other rare paths (never the closed path), and cache padding.
pub(crate) use ballast_core::sync::{CachePadded, Mutex};

/// A plain std counter for test-only instrumentation (how much work an
/// operation did). It synchronises nothing, so loom need not explore it.
#[cfg(test)]
pub(crate) type TestCounter = std::sync::atomic::AtomicU64;

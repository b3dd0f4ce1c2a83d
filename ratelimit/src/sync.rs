//! The atomics the limiters' lock-free cores use: std's normally, loom's
//! under `cfg(ballast_loom)` so the loom models explore every interleaving.
//! Code imports atomics only from here.

#[cfg(ballast_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(ballast_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

/// Keeps a hot atomic on a cache line of its own, so a write to one counter
/// does not invalidate the line another core is reading (false sharing).
/// 128 bytes: adjacent-line prefetchers pull lines in pairs.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

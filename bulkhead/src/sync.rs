//! The atomics and mutex the bulkhead's concurrent core uses: std and
//! parking_lot normally, loom's under `cfg(ballast_loom)` so the loom models
//! explore every interleaving. Code imports these only from here.

#[cfg(ballast_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(ballast_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

/// A mutex for transitions and other rare paths (the wait queue, never the uncontended acquire and release).
#[derive(Debug, Default)]
pub(crate) struct Mutex<T> {
    #[cfg(ballast_loom)]
    inner: loom::sync::Mutex<T>,
    #[cfg(not(ballast_loom))]
    inner: parking_lot::Mutex<T>,
}

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(ballast_loom)]
            inner: loom::sync::Mutex::new(value),
            #[cfg(not(ballast_loom))]
            inner: parking_lot::Mutex::new(value),
        }
    }

    #[cfg(ballast_loom)]
    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(not(ballast_loom))]
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.inner.lock()
    }
}

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

//! The synchronisation pieces ballast cores share: a mutex for rare paths
//! that becomes loom's under `cfg(ballast_loom)`, [`CachePadded`], and
//! [`StripedCounter`] for counts bumped on every call. Each crate's own
//! `sync.rs` re-exports these next to its std-or-loom atomics, so policy
//! code imports from one place.

pub use crate::striped::StripedCounter;

/// A mutex for transitions, queues and other rare paths (never a hot
/// path): parking_lot's normally, loom's under `cfg(ballast_loom)` so loom
/// models explore the interleavings around it. Poisoning is ignored: a
/// panic while holding it leaves plain data behind, not a broken invariant
/// the next holder could detect.
#[derive(Debug, Default)]
pub struct Mutex<T> {
    #[cfg(ballast_loom)]
    inner: loom::sync::Mutex<T>,
    #[cfg(not(ballast_loom))]
    inner: parking_lot::Mutex<T>,
}

impl<T> Mutex<T> {
    /// A mutex holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            #[cfg(ballast_loom)]
            inner: loom::sync::Mutex::new(value),
            #[cfg(not(ballast_loom))]
            inner: parking_lot::Mutex::new(value),
        }
    }

    /// Locks it, waiting if another thread holds it.
    #[cfg(ballast_loom)]
    pub fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks it, waiting if another thread holds it.
    #[cfg(not(ballast_loom))]
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.inner.lock()
    }
}

/// Keeps a hot atomic on a cache line of its own, so a write to one counter
/// does not invalidate the line another core is reading (false sharing).
/// 128 bytes: adjacent-line prefetchers pull lines in pairs.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct CachePadded<T>(pub T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

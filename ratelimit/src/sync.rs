//! The atomics the limiters' lock-free cores use: std's normally, loom's
//! under `cfg(ballast_loom)` so the loom models explore every interleaving.
//! Code imports atomics only from here.

#[cfg(ballast_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(ballast_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

/// The family's cache padding, and the striped counter every admitted
/// check adds to (loom's atomics under `cfg(ballast_loom)`: the models run
/// the production counter).
pub(crate) use ballast_core::sync::{CachePadded, StripedCounter};

/// A reader-writer lock for the keyed map's shards: parking_lot's normally,
/// loom's under `cfg(ballast_loom)` so the loom models can interleave
/// threads that hold it (a real lock held across a loom switch would
/// deadlock the model).
pub(crate) struct RwLock<T> {
    #[cfg(ballast_loom)]
    inner: loom::sync::RwLock<T>,
    #[cfg(not(ballast_loom))]
    inner: parking_lot::RwLock<T>,
}

impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(ballast_loom)]
            inner: loom::sync::RwLock::new(value),
            #[cfg(not(ballast_loom))]
            inner: parking_lot::RwLock::new(value),
        }
    }

    #[cfg(not(ballast_loom))]
    #[inline]
    pub(crate) fn read(&self) -> parking_lot::RwLockReadGuard<'_, T> {
        self.inner.read()
    }

    #[cfg(not(ballast_loom))]
    pub(crate) fn write(&self) -> parking_lot::RwLockWriteGuard<'_, T> {
        self.inner.write()
    }

    #[cfg(ballast_loom)]
    pub(crate) fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
        self.inner.read().expect("a model thread panicked")
    }

    #[cfg(ballast_loom)]
    pub(crate) fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
        self.inner.write().expect("a model thread panicked")
    }
}

//! [`Rare`]: what only calls that retry fill in, dropped by the others
//! with one inlined check.

use std::fmt;

/// An optional value most calls never fill (a retrying call's state, its
/// backoff timer). Dropping an empty one is one inlined check; dropping a
/// filled one is out of line, on the path of calls that retried, so the
/// drop glue of what it holds stays off the success path.
pub(crate) struct Rare<T>(pub(crate) Option<T>);

impl<T> Rare<T> {
    /// Nothing yet.
    pub(crate) fn none() -> Self {
        Self(None)
    }
}

impl<T> Drop for Rare<T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            drop_filled(value);
        }
    }
}

#[cold]
#[inline(never)]
fn drop_filled<T>(value: T) {
    drop(value);
}

impl<T: fmt::Debug> fmt::Debug for Rare<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

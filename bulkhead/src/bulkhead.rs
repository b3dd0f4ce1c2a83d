//! [`Bulkhead`]: the shared limiter and its operator handle, and the plain
//! async helper [`Bulkhead::call`].

use crate::config::Config;
use crate::core::Core;
use crate::layer::BulkheadLayer;
use crate::permit::{Admission, Holder, admit};
use crate::sync::{AtomicU64, Ordering};
use ballast_core::Rejected;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// What every clone of a bulkhead shares.
///
/// Laid out (`repr(C)`, the core and its permit word first) so that the
/// permit word sits on the cache line of the `Arc`'s reference count: a
/// call through the layer takes a permit and a count, and gives both back,
/// so calls on two cores pass one line between them, not two.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Shared {
    pub(crate) core: Core,
    pub(crate) config: Config,
    /// Rejections so far.
    rejected: AtomicU64,
    /// Shadow mode: calls admitted without a permit, in flight now.
    over: AtomicU64,
    /// Shadow mode: calls that would have been refused, or made to wait.
    would_reject: AtomicU64,
    would_queue: AtomicU64,
    #[cfg(feature = "metrics")]
    pub(crate) export: crate::export::Export,
}

impl Shared {
    /// Counts and reports a rejection, then returns it.
    #[cold]
    pub(crate) fn reject(&self, rejected: Rejected) -> Rejected {
        // Relaxed: a statistic.
        self.rejected.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.export.refused(&rejected);
        tracing::debug!(bulkhead = %self.config.name, reason = %rejected, "call rejected");
        rejected
    }

    /// Shadow mode, no permit free: records what an enforcing bulkhead
    /// would have done (queue the call while its queue has room, as
    /// approximated by the calls admitted over the limit, else refuse it)
    /// and admits it over the limit.
    #[cold]
    pub(crate) fn admit_over(&self) {
        // Relaxed: a statistic; no permit changes hands.
        let over = self.over.fetch_add(1, Ordering::Relaxed);
        let queued = (over as usize) < self.core.max_queue();
        // Relaxed: statistics.
        if queued {
            self.would_queue.fetch_add(1, Ordering::Relaxed);
        } else {
            self.would_reject.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(
            bulkhead = %self.config.name,
            would_have = if queued { "waited" } else { "rejected" },
            "call admitted over the limit (shadow mode)"
        );
    }

    /// Shadow mode: a call admitted over the limit finished.
    pub(crate) fn release_over(&self) {
        // Relaxed: a statistic.
        self.over.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Holder for Arc<Shared> {
    #[inline]
    fn shared(&self) -> &Shared {
        self
    }
}

/// A fixed bulkhead: at most `max_concurrent_calls` calls in flight at
/// once, across every clone and every service it is layered on.
///
/// Cloning is cheap and shares the limit. Use [`layer`](Self::layer) for
/// tower stacks, [`call`](Self::call) for plain async code, and
/// [`snapshot`](Self::snapshot) to see what it is doing.
#[derive(Clone)]
pub struct Bulkhead {
    pub(crate) shared: Arc<Shared>,
}

/// What a bulkhead is doing, read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// Permits held: calls running, plus permits just handed to a waiter.
    pub in_flight: u64,
    /// Calls waiting for a permit.
    pub queued: usize,
    /// The most calls that may be in flight.
    pub limit: u64,
    /// Calls refused so far (full, queue full, waited too long, deadline).
    pub rejected: u64,
    /// Whether the bulkhead is in shadow mode (admitting everything).
    pub shadow: bool,
    /// In shadow mode: calls that found no permit and would have been
    /// refused (no queue, or the queue full) but were admitted.
    pub would_have_rejected: u64,
    /// In shadow mode: calls that found no permit and would have waited
    /// in the queue, but ran at once.
    pub would_have_queued: u64,
}

impl Bulkhead {
    /// A bulkhead with `config`.
    pub fn new(config: Config) -> Self {
        Self {
            shared: Arc::new(Shared {
                core: Core::new(config.max_concurrent_calls, config.max_queue_len()),
                #[cfg(feature = "metrics")]
                export: crate::export::Export::new(&config.name, config.max_concurrent_calls),
                config,
                rejected: AtomicU64::new(0),
                over: AtomicU64::new(0),
                would_reject: AtomicU64::new(0),
                would_queue: AtomicU64::new(0),
            }),
        }
    }

    /// The tower layer that puts services behind this bulkhead.
    pub fn layer(&self) -> BulkheadLayer {
        BulkheadLayer::new(self.clone())
    }

    /// The config it was built with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// In flight, queued, limit and rejected counts now (and in shadow
    /// mode what would have been refused or made to wait).
    pub fn snapshot(&self) -> Snapshot {
        let s = &self.shared;
        // Relaxed: statistics.
        Snapshot {
            in_flight: s.core.in_flight() + s.over.load(Ordering::Relaxed),
            queued: s.core.queued(),
            limit: s.core.max(),
            rejected: s.rejected.load(Ordering::Relaxed),
            shadow: s.config.shadow,
            would_have_rejected: s.would_reject.load(Ordering::Relaxed),
            would_have_queued: s.would_queue.load(Ordering::Relaxed),
        }
    }

    /// Runs `f()`'s future holding a permit, waiting for one if the config
    /// allows; the permit is given back when the future finishes or is
    /// dropped. `f` is not called if no permit is had.
    ///
    /// ```
    /// use ballast_bulkhead::{Bulkhead, Config, Reason};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let bulkhead = Bulkhead::new(Config::builder().max_concurrent_calls(1).build().unwrap());
    /// let answer = bulkhead
    ///     .call(|| async {
    ///         // A second call while this one runs finds the bulkhead full.
    ///         let err = bulkhead.call(|| async { 0 }).await.unwrap_err();
    ///         assert_eq!(err.reason(), Reason::BulkheadFull);
    ///         42
    ///     })
    ///     .await;
    /// assert_eq!(answer, Ok(42));
    /// # }
    /// ```
    pub async fn call<F, Fut>(&self, f: F) -> Result<Fut::Output, Rejected>
    where
        F: FnOnce() -> Fut,
        Fut: Future,
    {
        let _permit = match admit(&self.shared) {
            Admission::Now(permit) => permit,
            Admission::Refused(rejected) => return Err(rejected),
            Admission::Wait(wait) => wait.await?,
        };
        Ok(f().await)
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.shared.config.name)
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_permit_word_sits_on_the_reference_counts_cache_line() {
        // An `Arc`'s two counts (16 bytes) come first, then `Shared` at its
        // own alignment: kept at 16 or less, the permit word (first in the
        // core, first in `Shared`) lands on bytes 16..24 of the first line.
        assert!(std::mem::align_of::<Shared>() <= 16);
        assert_eq!(std::mem::offset_of!(Shared, core), 0);
        assert_eq!(crate::core::STATE_OFFSET, 0);
    }
}

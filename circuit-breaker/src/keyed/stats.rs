//! [`KeyedStats`]: what a keyed registry did to stay within its bounds.

/// A snapshot of a [`KeyedBreakers`](super::KeyedBreakers) registry's own
/// counters (each key's breaker has its [`Metrics`](crate::Metrics); the
/// keys held now are [`len`](super::KeyedBreakers::len)). Reading it is a
/// few loads, cheap enough to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyedStats {
    /// Keys created since the registry was built.
    pub inserted: u64,
    /// Keys evicted for being idle with a calm breaker, by the eviction
    /// hand or [`evict_idle`](super::KeyedBreakers::evict_idle).
    pub evicted: u64,
    /// Entries the eviction hand has looked at: at most
    /// [`EVICTION_STEP`](super::EVICTION_STEP) per new key.
    pub examined: u64,
    /// Times a new key was handed the overflow breaker because every slot
    /// held a live key.
    pub overflowed: u64,
}

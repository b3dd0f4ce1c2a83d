//! [`RedisMetrics`]: what a Redis limiter decided, and which path decided it.

use crate::sync::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a [`RedisRateLimiter`](super::RedisRateLimiter)'s counters.
///
/// Every check is counted once in `redis_decisions` or
/// `fallback_decisions` (which path decided it) and once in `admitted` or
/// `rejected` (what was decided; a shadowed rejection counts as rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RedisMetrics {
    /// Checks admitted (by Redis or by the fallback).
    pub admitted: u64,
    /// Checks refused (in shadow mode: that would have been refused).
    pub rejected: u64,
    /// Of `rejected`, those let through anyway because of shadow mode.
    pub shadowed: u64,
    /// Checks decided by the script on the Redis server (and those asking
    /// for more cells than the burst, refused by the quota alone).
    pub redis_decisions: u64,
    /// Checks decided by the fallback policy because Redis could not.
    pub fallback_decisions: u64,
    /// Redis calls that failed (connection lost, refused, server error).
    pub redis_errors: u64,
    /// Redis calls abandoned at the timeout.
    pub redis_timeouts: u64,
    /// Checks that made no Redis call because the breaker was open: what
    /// a dead Redis costs once the breaker has tripped.
    pub short_circuited: u64,
}

/// The live counters, each on its own cache line.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) admitted: CachePadded<AtomicU64>,
    pub(crate) rejected: CachePadded<AtomicU64>,
    pub(crate) shadowed: CachePadded<AtomicU64>,
    pub(crate) redis_decisions: CachePadded<AtomicU64>,
    pub(crate) fallback_decisions: CachePadded<AtomicU64>,
    pub(crate) redis_errors: CachePadded<AtomicU64>,
    pub(crate) redis_timeouts: CachePadded<AtomicU64>,
    pub(crate) short_circuited: CachePadded<AtomicU64>,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> RedisMetrics {
        // Relaxed: independent statistics; a snapshot need not be atomic
        // across counters.
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RedisMetrics {
            admitted: get(&self.admitted),
            rejected: get(&self.rejected),
            shadowed: get(&self.shadowed),
            redis_decisions: get(&self.redis_decisions),
            fallback_decisions: get(&self.fallback_decisions),
            redis_errors: get(&self.redis_errors),
            redis_timeouts: get(&self.redis_timeouts),
            short_circuited: get(&self.short_circuited),
        }
    }

    #[inline]
    pub(crate) fn bump(counter: &AtomicU64) {
        // Relaxed: a statistic; nothing is published through it.
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

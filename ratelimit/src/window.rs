//! [`FixedWindow`] and [`SlidingWindow`]: counting limiters for users who
//! need window semantics ("at most N per calendar minute", or the sliding
//! window counter of Cloudflare and nginx), on one atomic word each.
//!
//! Both take `now` as an argument and share [`Gcra`](crate::Gcra)'s check
//! API. Windows are aligned to the limiter's origin: window `i` covers
//! `[i × len, (i + 1) × len)`.
//!
//! - **Fixed window**: at most `limit` cells per window; the count resets at
//!   each boundary. Up to `2 × limit` can pass across a boundary.
//! - **Sliding window counter**: the previous window's count weighted by
//!   how much of it the sliding window still covers, plus the current
//!   count: admit `n` iff `prev × (len − e) + (curr + n) × len ≤ limit × len`
//!   with `e` the time elapsed in the current window (exact integers, no
//!   floating point). This smooths the boundary burst.
//!
//! # Implementation notes
//!
//! Each limiter is one `AtomicU64` updated by a load/decide/CAS loop, like
//! the GCRA (see its notes): every admission is one read-modify-write that
//! builds on the word it read, so concurrent checks never admit more than
//! a serial order would; rejections write nothing. All accesses are
//! `Relaxed` for the same reason: the word publishes no other memory.
//!
//! - Fixed: `window index mod 2^32` (high 32 bits) | `count` (low 32).
//! - Sliding: `window index mod 2^24` (bits 40..64) | `previous count`
//!   (bits 20..40) | `current count` (bits 0..20), so a limit is at most
//!   [`MAX_SLIDING_LIMIT`].
//!
//! The stored index is compared with the current one by wrapping signed
//! difference: a word from an older window reads as that window's counts
//! (or zeros); a word from a *newer* window (a thread whose `now` is a
//! little ahead already moved it on) is counted in, never reset, so a late
//! `now` cannot wipe a newer window's count. A limiter left idle for an
//! exact multiple of 2^32 (fixed) or 2^24 (sliding) windows would read its
//! old count once; keyed limiters evict idle keys long before.

use crate::gcra::{never, not_until};
use crate::quota::COMPONENT;
use crate::state::Usage;
use crate::sync::{AtomicU64, Ordering};
use ballast_core::Rejected;
use ballast_core::{ConfigError, Nanos, nanos};
use std::fmt;
use std::time::Duration;

/// The largest `limit` a [`SlidingWindow`] accepts (20 bits per count).
pub const MAX_SLIDING_LIMIT: u32 = (1 << 20) - 1;

/// A window limit: at most `limit` cells per `length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub(crate) limit: u32,
    pub(crate) length: Nanos,
}

impl Window {
    /// At most `limit` cells per `length`. A zero limit, a zero length, or
    /// a length past 2^62 ns is an error.
    pub fn new(limit: u32, length: Duration) -> Result<Self, ConfigError> {
        if limit == 0 {
            return Err(ConfigError::new(COMPONENT, "limit", "must be at least 1"));
        }
        let len = nanos(length);
        if len == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "window",
                "must be at least 1ns",
            ));
        }
        if len > crate::quota::MAX_BURST_WINDOW {
            return Err(ConfigError::new(
                COMPONENT,
                "window",
                format!("must be at most 2^62ns, got {length:?}"),
            ));
        }
        Ok(Self { limit, length: len })
    }

    /// Cells per window.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The window's length.
    pub fn length(&self) -> Duration {
        Duration::from_nanos(self.length)
    }
}

/// At most `limit` cells per aligned window of time.
///
/// ```
/// use ballast_ratelimit::{FixedWindow, Window};
/// use std::time::Duration;
///
/// let w = FixedWindow::new(Window::new(2, Duration::from_secs(1))?);
/// assert!(w.check(0).is_ok() && w.check(0).is_ok());
/// let e = w.check(400_000_000).unwrap_err();
/// assert_eq!(e.retry_after_hint(), Some(Duration::from_millis(600)));
/// assert!(w.check(1_000_000_000).is_ok());
/// # Ok::<(), ballast_ratelimit::ConfigError>(())
/// ```
pub struct FixedWindow {
    /// Window index (mod 2^32) << 32 | count in that window.
    word: AtomicU64,
    rule: FixedRule,
}

/// A fixed window's rule, without the state (see `GcraRule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedRule {
    pub(crate) limit: u32,
    pub(crate) length: Nanos,
}

impl FixedRule {
    /// A fresh word: index u32::MAX reads as "older than window 0", count 0.
    pub(crate) const FRESH: u64 = (u32::MAX as u64) << 32;

    /// Takes `n` cells at once at `now`, or none; `n` above the limit is
    /// never admitted.
    pub(crate) fn check_n(&self, cell: &AtomicU64, n: u32, now: Nanos) -> Result<(), Rejected> {
        if n > self.limit {
            return Err(never());
        }
        let idx = now / self.length;
        // Relaxed: see "Implementation notes".
        let mut word = cell.load(Ordering::Relaxed);
        loop {
            let stored = (word >> 32) as u32;
            let ahead = stored.wrapping_sub(idx as u32) as i32;
            let (win, count) = if ahead < 0 {
                (idx, 0) // an older window: this one starts empty
            } else {
                (idx + ahead as u64, word as u32)
            };
            // In u64: both are ≤ limit ≤ u32::MAX, the sum may not fit a u32.
            if u64::from(count) + u64::from(n) > u64::from(self.limit) {
                let next = (win + 1).saturating_mul(self.length);
                return Err(not_until(next - now));
            }
            let new = (win << 32) | u64::from(count + n);
            // Relaxed: only this word's modification order matters.
            match cell.compare_exchange_weak(word, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(seen) => word = seen,
            }
        }
    }

    /// Cells left in the window of `now`, and the time until it ends (when
    /// the count resets); what the HTTP layer's `RateLimit` header reports.
    pub(crate) fn usage(&self, cell: &AtomicU64, now: Nanos) -> Usage {
        // Relaxed: a snapshot.
        let word = cell.load(Ordering::Relaxed);
        let idx = now / self.length;
        let ahead = ((word >> 32) as u32).wrapping_sub(idx as u32) as i32;
        let (win, count) = if ahead < 0 {
            (idx, 0)
        } else {
            (idx + ahead as u64, word as u32)
        };
        Usage {
            remaining: self.limit.saturating_sub(count),
            reset: (win + 1).saturating_mul(self.length).saturating_sub(now),
        }
    }

    /// True when the state reads as a fresh limiter's at `now`.
    pub(crate) fn is_idle(&self, cell: &AtomicU64, now: Nanos) -> bool {
        // Relaxed: a snapshot for eviction.
        let word = cell.load(Ordering::Relaxed);
        let ahead = ((word >> 32) as u32).wrapping_sub((now / self.length) as u32) as i32;
        ahead < 0 || word as u32 == 0
    }
}

impl FixedWindow {
    /// A fresh limiter (an empty window).
    pub fn new(window: Window) -> Self {
        let rule = FixedRule {
            limit: window.limit,
            length: window.length,
        };
        Self {
            word: AtomicU64::new(FixedRule::FRESH),
            rule,
        }
    }

    /// Takes one cell at `now`, or says when one would pass.
    #[inline]
    pub fn check(&self, now: Nanos) -> Result<(), Rejected> {
        self.rule.check_n(&self.word, 1, now)
    }

    /// Takes `n` cells at once at `now`, or none; `n` above the limit is
    /// never admitted.
    pub fn check_n(&self, n: u32, now: Nanos) -> Result<(), Rejected> {
        self.rule.check_n(&self.word, n, now)
    }

    /// True when the state reads as a fresh limiter's at `now`.
    pub fn is_idle(&self, now: Nanos) -> bool {
        self.rule.is_idle(&self.word, now)
    }

    #[cfg(test)]
    fn usage(&self, now: Nanos) -> Usage {
        self.rule.usage(&self.word, now)
    }
}

impl fmt::Debug for FixedWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedWindow")
            .field("limit", &self.rule.limit)
            .field("length", &Duration::from_nanos(self.rule.length))
            .finish_non_exhaustive()
    }
}

const COUNT_BITS: u32 = 20;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const INDEX_SHIFT: u32 = 2 * COUNT_BITS;
const INDEX_MASK: u64 = (1 << 24) - 1;

/// The sliding window counter: the previous window's count, weighted by
/// its overlap with the sliding window, plus the current one.
///
/// ```
/// use ballast_ratelimit::{SlidingWindow, Window};
/// use std::time::Duration;
///
/// let w = SlidingWindow::new(Window::new(4, Duration::from_secs(1))?)?;
/// for _ in 0..4 { w.check(900_000_000).unwrap(); }
/// // At 1.5s the previous window still weighs 4 × 0.5 = 2: two more pass.
/// assert!(w.check(1_500_000_000).is_ok() && w.check(1_500_000_000).is_ok());
/// let e = w.check(1_500_000_000).unwrap_err();
/// assert_eq!(e.retry_after_hint(), Some(Duration::from_millis(250)));
/// # Ok::<(), ballast_ratelimit::ConfigError>(())
/// ```
pub struct SlidingWindow {
    /// Window index (mod 2^24) << 40 | previous count << 20 | current count.
    word: AtomicU64,
    rule: SlidingRule,
}

/// A sliding window's rule, without the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlidingRule {
    pub(crate) limit: u32,
    pub(crate) length: Nanos,
}

impl SlidingRule {
    /// A fresh word: index 2^24 - 2 reads as at least two windows before
    /// window 0.
    pub(crate) const FRESH: u64 = (INDEX_MASK - 1) << INDEX_SHIFT;

    /// Splits `word` as seen at window `idx`: (window, elapsed, prev, curr).
    fn read(&self, word: u64, idx: u64, elapsed: Nanos) -> (u64, Nanos, u64, u64) {
        let stored = (word >> INDEX_SHIFT) & INDEX_MASK;
        let diff = (idx.wrapping_sub(stored)) & INDEX_MASK;
        let (prev, curr) = ((word >> COUNT_BITS) & COUNT_MASK, word & COUNT_MASK);
        if diff >= 1 << 23 {
            // The word is from a later window (a thread slightly ahead):
            // count in it, as seen from that window's start.
            let ahead = (INDEX_MASK + 1) - diff;
            (idx + ahead, 0, prev, curr)
        } else {
            match diff {
                0 => (idx, elapsed, prev, curr),
                1 => (idx, elapsed, curr, 0),
                _ => (idx, elapsed, 0, 0),
            }
        }
    }

    /// Takes `n` cells at once at `now`, or none; `n` above the limit is
    /// never admitted.
    pub(crate) fn check_n(&self, cell: &AtomicU64, n: u32, now: Nanos) -> Result<(), Rejected> {
        if n > self.limit {
            return Err(never());
        }
        let len = self.length;
        let (idx, elapsed) = (now / len, now % len);
        let (n, limit) = (u64::from(n), u64::from(self.limit));
        // Relaxed: see "Implementation notes".
        let mut word = cell.load(Ordering::Relaxed);
        loop {
            let (win, e, prev, curr) = self.read(word, idx, elapsed);
            let weighted = u128::from(prev) * u128::from(len - e);
            if weighted + u128::from(curr + n) * u128::from(len)
                > u128::from(limit) * u128::from(len)
            {
                // `pos` is `now`, or the start of a later window the word
                // is already in.
                let pos = win.saturating_mul(len).saturating_add(e);
                let wait = (pos - now.min(pos)).saturating_add(self.wait(e, prev, curr, n));
                return Err(not_until(wait));
            }
            let new = ((win & INDEX_MASK) << INDEX_SHIFT) | (prev << COUNT_BITS) | (curr + n);
            // Relaxed: only this word's modification order matters.
            match cell.compare_exchange_weak(word, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(seen) => word = seen,
            }
        }
    }

    /// From `e` into a window holding `prev`/`curr`, the time until `n`
    /// more cells fit, assuming no other traffic.
    fn wait(&self, e: Nanos, prev: u64, curr: u64, n: u64) -> Nanos {
        let (len, limit) = (u128::from(self.length), u64::from(self.limit));
        // The earliest elapsed time `x` in a window with `p` previous cells
        // at which `p × (len − x) ≤ room × len`.
        let earliest = |p: u64, room: u64| -> u128 {
            if p == 0 {
                0
            } else {
                len - (u128::from(room) * len / u128::from(p)).min(len)
            }
        };
        let wait = if curr + n <= limit {
            earliest(prev, limit - curr - n) - u128::from(e)
        } else {
            // Not in this window: in the next, `curr` becomes the previous.
            (len - u128::from(e)) + earliest(curr, limit - n)
        };
        u64::try_from(wait).unwrap_or(u64::MAX)
    }

    /// The cells that would pass at `now`, and the time until nothing
    /// counted so far weighs any more (the current window's cells stop
    /// weighing one window after it ends); what the HTTP layer's
    /// `RateLimit` header reports.
    pub(crate) fn usage(&self, cell: &AtomicU64, now: Nanos) -> Usage {
        // Relaxed: a snapshot.
        let word = cell.load(Ordering::Relaxed);
        let len = self.length;
        let (win, e, prev, curr) = self.read(word, now / len, now % len);
        let room = (u128::from(self.limit) * u128::from(len))
            .saturating_sub(u128::from(prev) * u128::from(len - e))
            / u128::from(len);
        let remaining = u64::try_from(room).unwrap_or(u64::MAX).saturating_sub(curr);
        let end = (win + 1).saturating_mul(len);
        let reset = match (prev, curr) {
            (_, 1..) => end.saturating_add(len),
            (1.., 0) => end,
            (0, 0) => now,
        };
        Usage {
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset: reset.saturating_sub(now),
        }
    }

    /// True when the state reads as a fresh limiter's at `now`.
    pub(crate) fn is_idle(&self, cell: &AtomicU64, now: Nanos) -> bool {
        // Relaxed: a snapshot for eviction.
        let word = cell.load(Ordering::Relaxed);
        let (_, _, prev, curr) = self.read(word, now / self.length, now % self.length);
        prev == 0 && curr == 0
    }
}

impl SlidingWindow {
    /// A fresh limiter. A limit above [`MAX_SLIDING_LIMIT`] is an error.
    pub fn new(window: Window) -> Result<Self, ConfigError> {
        if window.limit > MAX_SLIDING_LIMIT {
            return Err(ConfigError::new(
                COMPONENT,
                "limit",
                format!(
                    "a sliding window holds at most {MAX_SLIDING_LIMIT}, got {}",
                    window.limit
                ),
            ));
        }
        Ok(Self {
            word: AtomicU64::new(SlidingRule::FRESH),
            rule: SlidingRule {
                limit: window.limit,
                length: window.length,
            },
        })
    }

    /// Takes one cell at `now`, or says when one would pass.
    #[inline]
    pub fn check(&self, now: Nanos) -> Result<(), Rejected> {
        self.rule.check_n(&self.word, 1, now)
    }

    /// Takes `n` cells at once at `now`, or none; `n` above the limit is
    /// never admitted.
    pub fn check_n(&self, n: u32, now: Nanos) -> Result<(), Rejected> {
        self.rule.check_n(&self.word, n, now)
    }

    /// True when the state reads as a fresh limiter's at `now`.
    pub fn is_idle(&self, now: Nanos) -> bool {
        self.rule.is_idle(&self.word, now)
    }

    #[cfg(test)]
    fn usage(&self, now: Nanos) -> Usage {
        self.rule.usage(&self.word, now)
    }
}

impl fmt::Debug for SlidingWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlidingWindow")
            .field("limit", &self.rule.limit)
            .field("length", &Duration::from_nanos(self.rule.length))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    fn window(limit: u32) -> Window {
        Window::new(limit, Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn fixed_usage_counts_down_and_resets_at_the_window_end() {
        let w = FixedWindow::new(window(3));
        assert_eq!(
            w.usage(200 * MS),
            Usage {
                remaining: 3,
                reset: 800 * MS
            }
        );
        w.check_n(2, 200 * MS).unwrap();
        assert_eq!(
            w.usage(300 * MS),
            Usage {
                remaining: 1,
                reset: 700 * MS
            }
        );
        assert_eq!(
            w.usage(1000 * MS),
            Usage {
                remaining: 3,
                reset: 1000 * MS
            }
        );
    }

    #[test]
    fn sliding_usage_weighs_the_previous_window() {
        let w = SlidingWindow::new(window(4)).unwrap();
        assert_eq!(
            w.usage(0),
            Usage {
                remaining: 4,
                reset: 0
            }
        );
        for _ in 0..4 {
            w.check(900 * MS).unwrap();
        }
        assert_eq!(
            w.usage(900 * MS),
            Usage {
                remaining: 0,
                reset: 1100 * MS
            }
        );
        // At 1.5s the previous 4 weigh 2: two pass, and they are forgotten
        // at 2s.
        assert_eq!(
            w.usage(1500 * MS),
            Usage {
                remaining: 2,
                reset: 500 * MS
            }
        );
        w.check(1500 * MS).unwrap();
        assert_eq!(
            w.usage(1500 * MS),
            Usage {
                remaining: 1,
                reset: 1500 * MS
            }
        );
    }
}

//! One limit's rule, whichever algorithm, and what its state word tells.
//!
//! Every algorithm keeps its whole state in one `AtomicU64` (see each
//! core's notes); the rest (rate, burst, window) is the [`Rule`]. A direct
//! limiter holds one rule and one word; a keyed limiter holds one rule and
//! one word per key, so a key costs 8 bytes of state.

use crate::config::Limit;
use crate::gcra::GcraRule;
use crate::sync::AtomicU64;
use crate::window::{FixedRule, SlidingRule};
use ballast_core::{Nanos, Rejected};

/// What a limit's state tells a client at one instant (the HTTP layer's
/// `RateLimit` header): the cells it could take now without waiting, and
/// ns until the limit is back to a fresh one's (nothing used counts).
/// (Public only to appear in the sealed [`Policy`](crate::Policy) trait;
/// not nameable outside the crate.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub(crate) remaining: u32,
    pub(crate) reset: Nanos,
}

/// The rule of one limit: how a check reads and moves a state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    Gcra(GcraRule),
    Fixed(FixedRule),
    Sliding(SlidingRule),
}

impl Rule {
    /// The rule of `limit`, which comes from a validated config.
    pub(crate) fn new(limit: &Limit) -> Self {
        match *limit {
            Limit::Gcra(q) => Rule::Gcra(GcraRule::new(q).expect("validated by the config")),
            Limit::FixedWindow(w) => Rule::Fixed(FixedRule {
                limit: w.limit,
                length: w.length,
            }),
            Limit::SlidingWindow(w) => Rule::Sliding(SlidingRule {
                limit: w.limit,
                length: w.length,
            }),
        }
    }

    /// A fresh state word: the whole limit available.
    pub(crate) fn fresh(&self) -> AtomicU64 {
        AtomicU64::new(match self {
            Rule::Gcra(_) => 0,
            Rule::Fixed(_) => FixedRule::FRESH,
            Rule::Sliding(_) => SlidingRule::FRESH,
        })
    }

    /// Takes `n` cells of `cell` due within `max_wait`; returns the wait
    /// until due.
    ///
    /// GCRA reserves cells in the future; the windows cannot (a window's
    /// count is for now), so they admit only what fits now and their
    /// rejection says when to try again.
    #[inline]
    pub(crate) fn reserve_n(
        &self,
        cell: &AtomicU64,
        n: u32,
        now: Nanos,
        max_wait: Nanos,
    ) -> Result<Nanos, Rejected> {
        match self {
            Rule::Gcra(g) if n == 1 && max_wait == 0 => g.check(cell, now).map(|()| 0),
            Rule::Gcra(g) => g.reserve_n(cell, n, now, max_wait),
            Rule::Fixed(w) => w.check_n(cell, n, now).map(|()| 0),
            Rule::Sliding(w) => w.check_n(cell, n, now).map(|()| 0),
        }
    }

    /// Takes one cell at `now` if this is a GCRA and one is free now, the
    /// decision nearly every admitted call makes; false says nothing more
    /// (nothing was taken: decide with [`reserve_n`](Self::reserve_n)).
    #[inline]
    pub(crate) fn take_one_now(&self, cell: &AtomicU64, now: Nanos) -> bool {
        matches!(self, Rule::Gcra(g) if g.take_one(cell, now).is_ok())
    }

    /// True if waiting for a window means trying again after the hint.
    pub(crate) fn retries(&self) -> bool {
        !matches!(self, Rule::Gcra(_))
    }

    /// The cells free at `now` and the time until the limit is fresh again.
    pub(crate) fn usage(&self, cell: &AtomicU64, now: Nanos) -> Usage {
        match self {
            Rule::Gcra(g) => g.usage(cell, now),
            Rule::Fixed(w) => w.usage(cell, now),
            Rule::Sliding(w) => w.usage(cell, now),
        }
    }

    /// True when `cell` has read as fresh for a whole window (its burst
    /// window, or its window's length): the keyed map's sweeps evict these.
    pub(crate) fn is_stale(&self, cell: &AtomicU64, now: Nanos) -> bool {
        let window = match self {
            Rule::Gcra(g) => g.burst_window(),
            Rule::Fixed(w) => w.length,
            Rule::Sliding(w) => w.length,
        };
        self.is_idle(cell, now.saturating_sub(window))
    }

    /// True when `cell` reads as a fresh state at `now`: dropping it and
    /// starting afresh would change no decision.
    pub(crate) fn is_idle(&self, cell: &AtomicU64, now: Nanos) -> bool {
        match self {
            Rule::Gcra(g) => g.is_idle(cell, now),
            Rule::Fixed(w) => w.is_idle(cell, now),
            Rule::Sliding(w) => w.is_idle(cell, now),
        }
    }
}

//! One limiter's state, whichever algorithm, and the decision a layer or
//! helper acts on.

use crate::config::Limit;
use crate::gcra::Gcra;
use crate::window::{FixedWindow, SlidingWindow};
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

/// The state of one limit (the direct limiter's, or one key's).
#[derive(Debug)]
pub(crate) enum State {
    Gcra(Gcra),
    Fixed(FixedWindow),
    Sliding(SlidingWindow),
}

impl State {
    /// A fresh state; `limit` comes from a validated config.
    pub(crate) fn new(limit: &Limit) -> Self {
        match *limit {
            Limit::Gcra(q) => State::Gcra(Gcra::new(q).expect("validated by the config")),
            Limit::FixedWindow(w) => State::Fixed(FixedWindow::new(w)),
            Limit::SlidingWindow(w) => {
                State::Sliding(SlidingWindow::new(w).expect("validated by the config"))
            }
        }
    }

    /// Takes `n` cells due within `max_wait`; returns the wait until due.
    ///
    /// GCRA reserves cells in the future; the windows cannot (a window's
    /// count is for now), so they admit only what fits now and their
    /// rejection says when to try again.
    #[inline]
    pub(crate) fn reserve_n(&self, n: u32, now: Nanos, max_wait: Nanos) -> Result<Nanos, Rejected> {
        match self {
            State::Gcra(g) if n == 1 && max_wait == 0 => g.check(now).map(|()| 0),
            State::Gcra(g) => g.reserve_n(n, now, max_wait),
            State::Fixed(w) => w.check_n(n, now).map(|()| 0),
            State::Sliding(w) => w.check_n(n, now).map(|()| 0),
        }
    }

    /// True if waiting for a window means trying again after the hint.
    pub(crate) fn retries(&self) -> bool {
        !matches!(self, State::Gcra(_))
    }

    /// The cells free at `now` and the time until the limit is fresh again.
    pub(crate) fn usage(&self, now: Nanos) -> Usage {
        match self {
            State::Gcra(g) => g.usage(now),
            State::Fixed(w) => w.usage(now),
            State::Sliding(w) => w.usage(now),
        }
    }

    /// True when the state has read as fresh for a whole window (its burst
    /// window, or its window's length): the keyed map's sweeps evict these.
    pub(crate) fn is_stale(&self, now: Nanos) -> bool {
        let window = match self {
            State::Gcra(g) => g.burst_window(),
            State::Fixed(w) => w.length,
            State::Sliding(w) => w.length,
        };
        self.is_idle(now.saturating_sub(window))
    }

    pub(crate) fn is_idle(&self, now: Nanos) -> bool {
        match self {
            State::Gcra(g) => g.is_idle(now),
            State::Fixed(w) => w.is_idle(now),
            State::Sliding(w) => w.is_idle(now),
        }
    }
}

//! One limiter's state, whichever algorithm, and the decision a layer or
//! helper acts on.

use crate::config::Limit;
use crate::gcra::Gcra;
use crate::window::{FixedWindow, SlidingWindow};
use ballast_core::{Nanos, Rejected};

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

    pub(crate) fn is_idle(&self, now: Nanos) -> bool {
        match self {
            State::Gcra(g) => g.is_idle(now),
            State::Fixed(w) => w.is_idle(now),
            State::Sliding(w) => w.is_idle(now),
        }
    }
}

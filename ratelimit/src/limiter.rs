//! [`RateLimiter`]: one shared limit with its clock, mode, counters and
//! tracing; the plain async helper and the handle.

use crate::config::{Config, Mode};
use crate::metrics::{Counters, Metrics};
use crate::state::Rule;
use crate::sync::{AtomicU64, CachePadded};
use ballast_core::{Clock, HotClock, Nanos, Rejected, nanos};
use ballast_deadline::Deadline;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// What to do with a request: go now, go at an instant, retry a window
/// after a while, or refuse. (Public only to appear in the sealed
/// [`Policy`](crate::Policy) trait; not nameable outside the crate.)
#[derive(Debug)]
pub enum Decision {
    Go,
    WaitUntil(Instant, Waiting),
    Retry(Duration, Waiting),
    Reject(Rejected),
}

/// Counts a request as waiting until dropped (completed or cancelled).
#[derive(Debug)]
pub struct Waiting(Option<Arc<Core>>);

impl Waiting {
    pub(crate) fn none() -> Self {
        Waiting(None)
    }

    pub(crate) fn into_option(self) -> Option<Self> {
        self.0.is_some().then_some(self)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(core) = &self.0 {
            // Relaxed: a statistic.
            core.counters.waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What direct and keyed limiters share: config, clock, counters.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) config: Config,
    /// The algorithm and its limit, for every state word of this limiter.
    pub(crate) rule: Rule,
    pub(crate) clock: HotClock,
    pub(crate) counters: Counters,
    /// A direct limiter's state word (see [`Rule`]; a keyed limiter keeps
    /// one per key and leaves this one fresh), on a cache line of its own:
    /// every check writes it, and a write from another core must not take
    /// away the line holding the fields every check reads first.
    pub(crate) state: CachePadded<AtomicU64>,
    /// The series reported through the `metrics` facade.
    #[cfg(feature = "metrics")]
    pub(crate) export: crate::export::Export,
}

impl Core {
    pub(crate) fn new(config: Config) -> Arc<Self> {
        let rule = Rule::new(&config.limit);
        Arc::new(Self {
            #[cfg(feature = "metrics")]
            export: crate::export::Export::new(&config.name),
            state: CachePadded(rule.fresh()),
            rule,
            config,
            clock: HotClock::new(),
            counters: Counters::default(),
        })
    }

    /// The limiter's clock, in ns since its origin.
    #[inline]
    pub(crate) fn now(&self) -> Nanos {
        self.clock.now()
    }

    /// The longest this request may wait at `now`: the mode's maximum,
    /// cut to the task's deadline.
    #[inline]
    pub(crate) fn budget(&self, now: Nanos) -> Nanos {
        match self.config.mode {
            Mode::Reject => 0,
            Mode::Wait { max_wait } => {
                let max = nanos(max_wait);
                match Deadline::current() {
                    Some(d) => max.min(nanos(d.remaining_at(self.clock.instant(now)))),
                    None => max,
                }
            }
        }
    }

    /// Decides for `n` cells of `state` at the clock's now, counting and
    /// tracing. `budget` is how long the request may still wait.
    ///
    /// The hot path is a GCRA taking one cell now, inline; every other
    /// decision (a window's, `n` cells, a wait, a refusal) is made out of
    /// line by [`decide_other`](Self::decide_other).
    #[inline(always)]
    pub(crate) fn decide(
        self: &Arc<Self>,
        state: &AtomicU64,
        n: u32,
        now: Nanos,
        budget: Nanos,
    ) -> Decision {
        if n == 1 && self.rule.take_one_now(state, now) {
            self.admitted();
            return Decision::Go;
        }
        self.decide_other(state, n, now, budget)
    }

    /// [`decide`](Self::decide) for everything but a GCRA's one cell taken
    /// now (which, if it was refused there, is asked again here with the
    /// wait allowed: nothing was taken).
    #[inline(never)]
    fn decide_other(
        self: &Arc<Self>,
        state: &AtomicU64,
        n: u32,
        now: Nanos,
        budget: Nanos,
    ) -> Decision {
        match self.rule.reserve_n(state, n, now, budget) {
            Ok(0) => {
                self.admitted();
                Decision::Go
            }
            Ok(wait) => {
                self.admitted();
                if self.config.shadow {
                    return Decision::Go;
                }
                let waiting = self.waiting();
                Decision::WaitUntil(self.clock.instant(now.saturating_add(wait)), waiting)
            }
            Err(rejected) => self.refuse(rejected, budget),
        }
    }

    /// Takes `n` cells of `state` now or none, for the plain checks (the
    /// direct and the keyed limiter's `check_n`): [`decide`](Self::decide)
    /// with no time to wait.
    #[inline(always)]
    pub(crate) fn check(
        self: &Arc<Self>,
        state: &AtomicU64,
        n: u32,
        now: Nanos,
    ) -> Result<(), Rejected> {
        match self.decide(state, n, now, 0) {
            Decision::Reject(r) => Err(r),
            // A zero budget never waits.
            Decision::Go | Decision::WaitUntil(..) | Decision::Retry(..) => Ok(()),
        }
    }

    /// Counts an admission.
    #[inline(always)]
    fn admitted(&self) {
        self.counters.admitted.add();
        #[cfg(feature = "metrics")]
        self.export.admitted();
    }

    #[cold]
    fn refuse(self: &Arc<Self>, rejected: Rejected, budget: Nanos) -> Decision {
        if let Some(hint) = rejected.retry_after_hint() {
            if self.rule.retries() && nanos(hint) <= budget && !self.config.shadow {
                return Decision::Retry(hint, self.waiting());
            }
        }
        Counters::bump(&self.counters.rejected);
        #[cfg(feature = "metrics")]
        self.export.refused(&rejected);
        if self.config.shadow {
            Counters::bump(&self.counters.shadowed);
            tracing::debug!(
                limiter = %self.config.name,
                retry_after = ?rejected.retry_after_hint(),
                "rate limit would reject (shadow mode, admitted)"
            );
            return Decision::Go;
        }
        tracing::debug!(
            limiter = %self.config.name,
            retry_after = ?rejected.retry_after_hint(),
            permanent = rejected.is_permanent(),
            "rate limited"
        );
        Decision::Reject(rejected)
    }

    fn waiting(self: &Arc<Self>) -> Waiting {
        Counters::bump(&self.counters.waiting);
        Waiting(Some(self.clone()))
    }

    /// Acquires `n` cells of `state` in the configured mode.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        state: &AtomicU64,
        n: u32,
    ) -> Result<(), Rejected> {
        let mut now = self.now();
        let mut budget = self.budget(now);
        loop {
            match self.decide(state, n, now, budget) {
                Decision::Go => return Ok(()),
                Decision::Reject(r) => return Err(r),
                Decision::WaitUntil(at, _waiting) => {
                    tokio::time::sleep_until(at).await;
                    return Ok(());
                }
                Decision::Retry(after, _waiting) => {
                    tokio::time::sleep(after).await;
                    let later = self.now();
                    budget = budget.saturating_sub(later - now);
                    now = later;
                }
            }
        }
    }
}

/// A rate limiter: one limit shared by every clone, reading a
/// [`HotClock`](ballast_core::HotClock) (tokio's clock when built while
/// tokio's clock is paused).
///
/// The handle for the plain async helper ([`until_ready`](Self::until_ready),
/// [`check`](Self::check)), for the tower [`layer`](Self::layer), and for
/// [`metrics`](Self::metrics). Clones share the limit.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    /// The limit, with its state word: a clone is one reference-count
    /// increment.
    pub(crate) core: Arc<Core>,
}

impl RateLimiter {
    /// A limiter with a full limit available now.
    pub fn new(config: Config) -> Self {
        Self {
            core: Core::new(config),
        }
    }

    /// Takes one cell now or refuses, whatever the mode (shadow mode
    /// still admits).
    #[inline]
    pub fn check(&self) -> Result<(), Rejected> {
        self.check_n(1)
    }

    /// Takes `n` cells now or none (shadow mode still admits). More cells
    /// than the limit holds are refused with a "never" rejection.
    #[inline]
    pub fn check_n(&self, n: u32) -> Result<(), Rejected> {
        self.core.check(&self.core.state, n, self.core.now())
    }

    /// Takes one cell in the configured mode: at once, or after waiting up
    /// to the maximum wait and never past the task's
    /// [`Deadline`].
    ///
    /// A GCRA limiter reserves the cell before sleeping, so waiters are
    /// served in order and never over-admit. Cancelling the wait (dropping
    /// the future) does not give the reserved cell back in this version:
    /// the limiter stays as if the request had gone through.
    pub async fn until_ready(&self) -> Result<(), Rejected> {
        self.core.acquire(&self.core.state, 1).await
    }

    /// [`until_ready`](Self::until_ready) for `n` cells at once.
    pub async fn until_n_ready(&self, n: u32) -> Result<(), Rejected> {
        self.core.acquire(&self.core.state, n).await
    }

    /// The counters so far.
    pub fn metrics(&self) -> Metrics {
        self.core.counters.snapshot()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The clock this limiter reads (its origin is when it was built).
    pub fn clock(&self) -> HotClock {
        self.core.clock
    }

    /// A tower layer applying this limiter; every service it wraps shares it.
    pub fn layer(&self) -> crate::RateLimitLayer {
        crate::RateLimitLayer::new(self.clone())
    }

    /// The server-side HTTP layer applying this limiter: refusals are 429
    /// responses with `Retry-After` and the rate-limit fields (feature
    /// `http`; see [`http`](crate::http)).
    #[cfg(feature = "http")]
    pub fn http_layer(&self, config: crate::http::HttpConfig) -> crate::http::HttpRateLimitLayer {
        crate::http::HttpRateLimitLayer::new(self.clone(), config)
    }
}

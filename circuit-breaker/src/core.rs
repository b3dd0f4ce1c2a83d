//! The policy core: the breaker's state machine, with no tokio, no tower
//! and no clock of its own. Time comes from the [`Clock`] each call hands
//! in, and is read only on paths that need it (never on the closed path
//! unless slow calls or a time window are configured).
//!
//! # Implementation notes
//!
//! - `state` holds the packed [`Word`] (`generation << 3 | state`). It is
//!   read with Acquire on every call and written only under the transition
//!   lock, with Release, after the data of the new state (`open_until`,
//!   `entered`, reset counters) is in place: a reader that sees a word sees
//!   its data.
//! - A transition names the word it leaves. Under the lock it proceeds only
//!   if that word is still current, so however many callers race to make
//!   the same transition, exactly one makes it and the others see the new
//!   word.
//! - The closed path: admission is one Acquire load; recording an outcome
//!   is a Relaxed load of the state word (to drop outcomes of an earlier
//!   stay) plus the count window's one `fetch_add`. Rates are evaluated
//!   only when a record may have raised one (see `Window::record`).
//! - Half-open slots and the recovery ramp have their own tagged words
//!   (`half_open.rs`, `recovery.rs`), whose tags are the low bits of the
//!   generation.

use crate::backoff::open_wait;
use crate::classify::Outcome;
use crate::config::Config;
use crate::events::{Cause, Events, StateChange};
use crate::half_open::{Admit, Probes};
use crate::metrics::Metrics;
use crate::recovery::{Ramp, RampAdmit};
use crate::state::{State, Word};
use crate::sync::{AtomicU64, CachePadded, Mutex, Ordering};
use crate::window::{Counts, Sample, Window, percent};
use ballast_core::{Clock, Nanos, Reason, Rejected, nanos};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::time::Duration;

/// What an admitted call holds until its outcome is recorded: two words,
/// so moving it around the call's future costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// The state word the call was admitted under; its state says how the
    /// outcome is recorded (see [`Ticket::kind`]).
    pub(crate) word: Word,
    /// When the call started, if slow calls are tracked.
    pub(crate) start: Nanos,
}

impl Ticket {
    pub(crate) fn kind(self) -> Kind {
        match self.word.state() {
            State::Closed | State::MetricsOnly => Kind::Window,
            State::HalfOpen => Kind::Probe,
            State::Recovering => Kind::Ramp,
            State::Disabled | State::Open | State::ForcedOpen => Kind::Untracked,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Recorded in the sliding window (closed, metrics-only).
    Window,
    /// A half-open probe holding a slot.
    Probe,
    /// Admitted by the recovery ramp.
    Ramp,
    /// Nothing to record (disabled).
    Untracked,
}

#[derive(Debug)]
struct Locked {
    consecutive_trips: u32,
    rng: SmallRng,
    /// A key's breaker: counted in its keyed registry's key gauges now
    /// (see `count_in_keys`).
    #[cfg(feature = "metrics")]
    counted: bool,
}

/// The breaker's shared state machine.
#[derive(Debug)]
pub(crate) struct Core {
    state: CachePadded<AtomicU64>,
    window: Window,
    probes: CachePadded<Probes>,
    ramp: CachePadded<Ramp>,
    /// When the current open stay ends.
    open_until: AtomicU64,
    /// When the current state was entered.
    entered: AtomicU64,
    rejected: CachePadded<AtomicU64>,
    locked: Mutex<Locked>,
    pub(crate) events: Events,
    slow_nanos: Option<Nanos>,
    minimum_calls: u64,
    permits: u64,
    #[cfg(feature = "metrics")]
    export: crate::export::Export,
    pub(crate) config: Config,
}

impl Core {
    pub(crate) fn new(config: Config) -> Self {
        #[cfg(feature = "metrics")]
        {
            let export = crate::export::Export::new(&config.name, Word::INITIAL.state());
            Self::build(config, export)
        }
        #[cfg(not(feature = "metrics"))]
        Self::build(config)
    }

    /// A key's breaker, reporting into its keyed registry's `series`
    /// instead of registering its own.
    #[cfg(feature = "metrics")]
    pub(crate) fn keyed(config: Config, series: &crate::export::Series) -> Self {
        Self::build(config, crate::export::Export::keyed(series))
    }

    fn build(config: Config, #[cfg(feature = "metrics")] export: crate::export::Export) -> Self {
        let seed = config.seed.unwrap_or_else(rand::random);
        Self {
            state: CachePadded(AtomicU64::new(Word::INITIAL.0)),
            window: Window::new(config.window, config.slow_call_duration.is_some()),
            probes: CachePadded(Probes::default()),
            ramp: CachePadded(Ramp::default()),
            open_until: AtomicU64::new(0),
            entered: AtomicU64::new(0),
            rejected: CachePadded(AtomicU64::new(0)),
            locked: Mutex::new(Locked {
                consecutive_trips: 0,
                rng: SmallRng::seed_from_u64(seed),
                #[cfg(feature = "metrics")]
                counted: false,
            }),
            events: Events::default(),
            slow_nanos: config.slow_call_duration.map(nanos),
            minimum_calls: u64::from(config.minimum_calls),
            permits: u64::from(config.half_open_permits),
            #[cfg(feature = "metrics")]
            export,
            config,
        }
    }

    #[inline]
    pub(crate) fn word(&self) -> Word {
        // Acquire: pairs with the Release store in `transition`.
        Word(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn state(&self) -> State {
        self.word().state()
    }

    /// Admits a call or says why not. The closed path is one load.
    #[inline]
    pub(crate) fn try_acquire(&self, clock: &impl Clock) -> Result<Ticket, Rejected> {
        let word = self.word();
        match word.state() {
            State::Closed | State::MetricsOnly => Ok(Ticket {
                word,
                start: self.start_time(clock),
            }),
            _ => self.acquire_slow(word, clock),
        }
    }

    #[inline]
    fn start_time(&self, clock: &impl Clock) -> Nanos {
        if self.slow_nanos.is_some() {
            clock.now()
        } else {
            0
        }
    }

    #[cold]
    fn acquire_slow(&self, mut word: Word, clock: &impl Clock) -> Result<Ticket, Rejected> {
        loop {
            let ticket = |start| Ticket { word, start };
            match word.state() {
                State::Closed | State::MetricsOnly => {
                    return Ok(ticket(self.start_time(clock)));
                }
                State::Disabled => return Ok(ticket(0)),
                State::ForcedOpen => {
                    return Err(self.reject(Rejected::retry_later(Reason::CircuitForcedOpen)));
                }
                State::Open => {
                    let now = clock.now();
                    // Relaxed: published by the Acquire load of `word`.
                    let until = self.open_until.load(Ordering::Relaxed);
                    if now < until {
                        let wait = Duration::from_nanos(until - now);
                        return Err(self.reject(Rejected::retry_after(Reason::CircuitOpen, wait)));
                    }
                    self.transition(word, State::HalfOpen, Cause::WaitElapsed, now);
                }
                State::HalfOpen => {
                    if let Some(max) = self.config.max_wait_in_half_open {
                        let now = clock.now();
                        // Relaxed: published by the Acquire load of `word`.
                        if now
                            >= self
                                .entered
                                .load(Ordering::Relaxed)
                                .saturating_add(nanos(max))
                        {
                            self.transition(word, State::Open, Cause::HalfOpenTimedOut, now);
                            word = self.word();
                            continue;
                        }
                    }
                    match self.probes.try_acquire(word.tag(), self.permits) {
                        Admit::Granted => return Ok(ticket(self.start_time(clock))),
                        Admit::Full => {
                            return Err(
                                self.reject(Rejected::retry_later(Reason::CircuitHalfOpenBusy))
                            );
                        }
                        Admit::Stale => {}
                    }
                }
                State::Recovering => {
                    let now = clock.now();
                    let ramp = self
                        .config
                        .gradual_recovery
                        .expect("recovering implies a ramp");
                    // Relaxed: published by the Acquire load of `word`.
                    let elapsed = now.saturating_sub(self.entered.load(Ordering::Relaxed));
                    let total = nanos(ramp.duration);
                    if elapsed >= total {
                        self.transition(word, State::Closed, Cause::RecoveryCompleted, now);
                    } else {
                        let start = ramp.start_percent / 100.0;
                        let share = start + (1.0 - start) * (elapsed as f64 / total as f64);
                        match self.ramp.try_admit(word.tag(), share) {
                            RampAdmit::Admitted => {
                                return Ok(ticket(self.start_time(clock)));
                            }
                            RampAdmit::Rejected => {
                                let left = Duration::from_nanos(total - elapsed);
                                return Err(self.reject(Rejected::retry_after(
                                    Reason::CircuitRecovering,
                                    left,
                                )));
                            }
                            RampAdmit::Stale => {}
                        }
                    }
                }
            }
            word = self.word();
        }
    }

    #[cold]
    fn reject(&self, r: Rejected) -> Rejected {
        // Relaxed: a statistic.
        self.rejected.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.export.refused(&r);
        tracing::debug!(breaker = %self.config.name, reason = %r, "call rejected");
        r
    }

    /// Records how an admitted call ended. Call exactly once per ticket
    /// (the permit guards do).
    #[inline]
    pub(crate) fn finish(&self, ticket: Ticket, outcome: Outcome, clock: &impl Clock) {
        #[cfg(feature = "metrics")]
        self.export.call(outcome);
        if ticket.word.is_windowed() {
            self.finish_windowed(ticket, outcome, clock);
        } else {
            self.finish_other(ticket, outcome, clock);
        }
    }

    /// The closed path's record.
    #[inline]
    fn finish_windowed(&self, ticket: Ticket, outcome: Outcome, clock: &impl Clock) {
        if outcome == Outcome::Ignore {
            return;
        }
        // Relaxed: only drops outcomes of an earlier stay; a record racing
        // with a transition lands at worst one stale sample in the fresh
        // window (see window/count.rs).
        if self.state.load(Ordering::Relaxed) != ticket.word.0 {
            return;
        }
        let now = if self.window.needs_time() || self.slow_nanos.is_some() {
            clock.now()
        } else {
            0
        };
        let sample = self.sample(ticket, outcome, now);
        if self.window.record(sample, now, self.minimum_calls)
            && ticket.word.state() == State::Closed
        {
            self.evaluate_closed(ticket.word, now, clock);
        }
    }

    /// Probes, the ramp, and disabled.
    #[cold]
    fn finish_other(&self, ticket: Ticket, outcome: Outcome, clock: &impl Clock) {
        match ticket.kind() {
            Kind::Untracked | Kind::Window => {}
            Kind::Probe => {
                let tag = ticket.word.tag();
                if outcome == Outcome::Ignore {
                    self.probes.release(tag);
                    return;
                }
                let now = self.slow_nanos.map_or(0, |_| clock.now());
                if let Some(c) = self.probes.finish(tag, self.sample(ticket, outcome, now)) {
                    self.decide_half_open(ticket.word, c.done, c.failures, c.slow, clock);
                }
            }
            Kind::Ramp => {
                if outcome == Outcome::Ignore {
                    return;
                }
                let now = self.slow_nanos.map_or(0, |_| clock.now());
                let sample = self.sample(ticket, outcome, now);
                if let Some(c) = self.ramp.finish(ticket.word.tag(), sample) {
                    if c.calls >= self.permits && self.over_threshold(c).is_some() {
                        let cause = Cause::RecoveryFailed {
                            failure_rate: c.failure_rate(),
                            slow_call_rate: c.slow_rate(),
                        };
                        self.transition(ticket.word, State::Open, cause, clock.now());
                    }
                }
            }
        }
    }

    #[inline]
    fn sample(&self, ticket: Ticket, outcome: Outcome, now: Nanos) -> Sample {
        Sample {
            failure: outcome == Outcome::Failure,
            slow: self
                .slow_nanos
                .is_some_and(|t| now.saturating_sub(ticket.start) >= t),
        }
    }

    /// The cause to trip for, if either rate is at or over its threshold.
    fn over_threshold(&self, c: Counts) -> Option<Cause> {
        let (fr, sr) = (c.failure_rate(), c.slow_rate());
        if fr >= self.config.failure_rate_threshold {
            Some(Cause::FailureRate(fr))
        } else if sr >= self.config.slow_call_rate_threshold {
            Some(Cause::SlowCallRate(sr))
        } else {
            None
        }
    }

    #[cold]
    fn evaluate_closed(&self, word: Word, now: Nanos, clock: &impl Clock) {
        let c = self.window.counts(now);
        if c.calls < self.minimum_calls {
            return;
        }
        if let Some(cause) = self.over_threshold(c) {
            self.transition(word, State::Open, cause, clock.now());
        }
    }

    #[cold]
    fn decide_half_open(
        &self,
        word: Word,
        done: u64,
        failures: u64,
        slow: u64,
        clock: &impl Clock,
    ) {
        let p = self.permits;
        let (fr_all, sr_all) = (percent(failures, p), percent(slow, p));
        // Decided early when the remaining probes cannot change the verdict.
        let failed = fr_all >= self.config.failure_rate_threshold
            || sr_all >= self.config.slow_call_rate_threshold;
        if failed {
            let cause = Cause::ProbesFailed {
                failure_rate: percent(failures, done),
                slow_call_rate: percent(slow, done),
            };
            self.transition(word, State::Open, cause, clock.now());
        } else if done >= p {
            let to = if self.config.gradual_recovery.is_some() {
                State::Recovering
            } else {
                State::Closed
            };
            self.transition(word, to, Cause::ProbesSucceeded, clock.now());
        }
    }

    /// Moves from `from` to `to` if `from` is still the current word.
    /// Returns whether this call made the transition.
    pub(crate) fn transition(&self, from: Word, to: State, cause: Cause, now: Nanos) -> bool {
        let mut locked = self.locked.lock();
        // Relaxed: every store of `state` happens under this lock.
        if self.state.load(Ordering::Relaxed) != from.0 {
            return false;
        }
        let next = from.next(to);
        let mut open_for = None;
        match to {
            State::Open => {
                locked.consecutive_trips = locked.consecutive_trips.saturating_add(1);
                let trips = locked.consecutive_trips;
                let wait = open_wait(&self.config, trips, &mut locked.rng);
                open_for = Some(wait);
                // Relaxed: published by the Release store of `state` below.
                self.open_until
                    .store(now.saturating_add(nanos(wait)), Ordering::Relaxed);
            }
            State::HalfOpen => self.probes.reset(next.tag()),
            State::Recovering => self.ramp.reset(next.tag()),
            State::Closed => {
                locked.consecutive_trips = 0;
                self.window.reset();
            }
            State::MetricsOnly => self.window.reset(),
            State::Disabled | State::ForcedOpen => {}
        }
        // Relaxed: published by the Release store of `state` below.
        self.entered.store(now, Ordering::Relaxed);
        // Release: publishes the new state's data with the word.
        self.state.store(next.0, Ordering::Release);
        #[cfg(feature = "metrics")]
        self.export.entered(from.state(), to, locked.counted);
        self.events.queue(StateChange {
            name: self.config.name.clone(),
            from: from.state(),
            to,
            cause,
            open_for,
            word: next,
        });
        drop(locked);
        self.events.dispatch();
        true
    }

    /// A key's breaker starts (`on`) or stops being counted in its keyed
    /// registry's key gauges, in its state of now: under the transition
    /// lock, so no transition is counted twice or lost. Does nothing if it
    /// already is (or is not), and for a plain breaker.
    #[cfg(feature = "metrics")]
    pub(crate) fn count_in_keys(&self, on: bool) {
        let mut locked = self.locked.lock();
        if locked.counted == on {
            return;
        }
        locked.counted = on;
        // Relaxed: every store of `state` happens under this lock.
        let state = Word(self.state.load(Ordering::Relaxed)).state();
        self.export.count(state, if on { 1.0 } else { -1.0 });
    }

    /// Moves to `to` from whatever the state is (operator controls).
    pub(crate) fn force(&self, to: State, now: Nanos) {
        while !self.transition(self.word(), to, Cause::Manual, now) {}
    }

    /// Resets to closed with empty counters and no trip history.
    pub(crate) fn reset(&self, now: Nanos) {
        self.force(State::Closed, now);
    }

    /// When the stay named by `word` ends on its own if no call comes:
    /// open until its wait is over, half-open until its maximum time,
    /// recovering until the ramp is done. None for states that wait for
    /// calls or operators.
    pub(crate) fn due(&self, word: Word) -> Option<Nanos> {
        // Relaxed: read after the Acquire load of the word that publishes them.
        let entered = self.entered.load(Ordering::Relaxed);
        match word.state() {
            State::Open => Some(self.open_until.load(Ordering::Relaxed)),
            State::HalfOpen => self
                .config
                .max_wait_in_half_open
                .map(|max| entered.saturating_add(nanos(max))),
            State::Recovering => self
                .config
                .gradual_recovery
                .map(|r| entered.saturating_add(nanos(r.duration))),
            _ => None,
        }
    }

    /// Makes the time-driven transition of the stay named by `word`, if it
    /// is still current and due: for the automatic timer, so state moves
    /// on with no call arriving.
    pub(crate) fn tick(&self, word: Word, now: Nanos) {
        if self.word() != word || self.due(word).is_none_or(|due| now < due) {
            return;
        }
        let (to, cause) = match word.state() {
            State::Open => (State::HalfOpen, Cause::WaitElapsed),
            State::HalfOpen => (State::Open, Cause::HalfOpenTimedOut),
            State::Recovering => (State::Closed, Cause::RecoveryCompleted),
            _ => return,
        };
        self.transition(word, to, cause, now);
    }

    pub(crate) fn metrics(&self, now: Nanos) -> Metrics {
        let state = self.state();
        let c = self.window.counts(now);
        let trips = self.locked.lock().consecutive_trips;
        Metrics {
            state,
            calls: c.calls,
            failures: c.failures,
            slow_calls: c.slow,
            failure_rate: c.failure_rate(),
            slow_call_rate: c.slow_rate(),
            // Relaxed: a statistic.
            rejected: self.rejected.load(Ordering::Relaxed),
            half_open_probes: if state == State::HalfOpen {
                self.probes.counts().issued
            } else {
                0
            },
            consecutive_trips: trips,
        }
    }

    /// The count window's bit counter and its popcount (see window/count.rs).
    #[cfg(all(test, ballast_loom))]
    pub(crate) fn window_dirty_check(&self) -> (u64, u64) {
        match &self.window {
            Window::Count(w) => w.dirty_check(),
            Window::Time(_) => (0, 0),
        }
    }

    #[cfg(all(test, ballast_loom))]
    pub(crate) fn probe_counts(&self) -> crate::half_open::ProbeCounts {
        self.probes.counts()
    }
}

//! State-change events: `tracing` and registered listeners.
//!
//! # Implementation notes
//!
//! A transition queues its event while it still holds the transition lock,
//! so events queue in transition order. After releasing the lock, the
//! thread tries to become the dispatcher (`dispatching` false -> true); the
//! dispatcher drains the queue and calls listeners with no lock held, then
//! clears the flag and looks once more, so an event queued while it was
//! clearing is not stranded. A listener may therefore call back into the
//! breaker (even force a transition): its event is queued and delivered
//! after the current one, in order. A listener that panics is logged and
//! skipped; the panic reaches neither the caller nor later events.

use crate::state::{State, Word};
use crate::sync::{AtomicBool, Mutex, Ordering};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Why a transition happened.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cause {
    /// The failure rate in the window reached the threshold (percent).
    FailureRate(f64),
    /// The slow-call rate in the window reached the threshold (percent).
    SlowCallRate(f64),
    /// The open wait elapsed.
    WaitElapsed,
    /// The half-open probes succeeded.
    ProbesSucceeded,
    /// The half-open probes failed (failure rate, slow rate in percent).
    ProbesFailed {
        /// Failure rate of the probes, percent.
        failure_rate: f64,
        /// Slow-call rate of the probes, percent.
        slow_call_rate: f64,
    },
    /// Half-open lasted longer than its maximum.
    HalfOpenTimedOut,
    /// The recovery ramp reached all calls.
    RecoveryCompleted,
    /// The calls admitted during recovery failed (failure rate, slow rate).
    RecoveryFailed {
        /// Failure rate of the calls admitted in the ramp, percent.
        failure_rate: f64,
        /// Slow-call rate of the calls admitted in the ramp, percent.
        slow_call_rate: f64,
    },
    /// An operator called a control on the handle.
    Manual,
}

/// One transition of one breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    /// The breaker's configured name.
    pub name: Arc<str>,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why.
    pub cause: Cause,
    /// For a transition to open: how long it stays open.
    pub open_for: Option<Duration>,
    pub(crate) word: Word,
}

type Listener = Arc<dyn Fn(&StateChange) + Send + Sync>;

#[derive(Default)]
pub(crate) struct Events {
    listeners: Mutex<Vec<Listener>>,
    queue: Mutex<VecDeque<StateChange>>,
    dispatching: AtomicBool,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events {
    pub(crate) fn subscribe(&self, listener: Listener) {
        self.listeners.lock().push(listener);
    }

    /// Queues an event; call while holding the transition lock.
    pub(crate) fn queue(&self, event: StateChange) {
        log(&event);
        self.queue.lock().push_back(event);
    }

    /// Delivers queued events unless another thread is already doing so.
    /// Call with no lock held.
    pub(crate) fn dispatch(&self) {
        loop {
            // Acquire: pairs with the Release below, so this dispatcher sees
            // the queue as the previous one left it.
            if self.dispatching.swap(true, Ordering::Acquire) {
                return;
            }
            loop {
                let Some(event) = self.queue.lock().pop_front() else {
                    break;
                };
                let listeners: Vec<Listener> = self.listeners.lock().clone();
                for l in &listeners {
                    // A panicking listener must not reach the caller that
                    // made the transition (it may be a permit's drop during
                    // an unwind) nor stop later events.
                    let call = std::panic::AssertUnwindSafe(|| l(&event));
                    if std::panic::catch_unwind(call).is_err() {
                        tracing::error!(breaker = %event.name, "a state-change listener panicked");
                    }
                }
            }
            // Release: hands the queue over to the next dispatcher.
            self.dispatching.store(false, Ordering::Release);
            if self.queue.lock().is_empty() {
                return;
            }
        }
    }
}

fn log(e: &StateChange) {
    if e.to == State::Open || e.to == State::ForcedOpen {
        tracing::warn!(
            breaker = %e.name, from = %e.from, to = %e.to, cause = ?e.cause,
            open_for = ?e.open_for, "circuit breaker opened"
        );
    } else {
        tracing::info!(
            breaker = %e.name, from = %e.from, to = %e.to, cause = ?e.cause,
            "circuit breaker state changed"
        );
    }
}

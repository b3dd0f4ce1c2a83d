//! Reporting through the `metrics` facade (feature `metrics`), under the
//! family's names ([`ballast_core::metric_names`]).
//!
//! Every series is registered once, when the breaker is built, so the
//! call path only bumps a handle: with no recorder installed then, the
//! handles are no-ops. Without the feature this file is not compiled and
//! the breaker's paths carry no trace of it.

use crate::classify::Outcome;
use crate::state::State;
use ballast_core::metric_names as names;
use ballast_core::{Reason, Rejected};
use metrics::{Counter, Gauge, counter, gauge};

/// Every state, in the order of the handles below.
const STATES: [State; 7] = [
    State::Closed,
    State::Open,
    State::HalfOpen,
    State::Recovering,
    State::Disabled,
    State::ForcedOpen,
    State::MetricsOnly,
];

/// The refusal reasons a breaker gives, in the order of the handles below.
const REASONS: [(Reason, &str); 4] = [
    (Reason::CircuitOpen, "circuit_open"),
    (Reason::CircuitHalfOpenBusy, "circuit_half_open_busy"),
    (Reason::CircuitRecovering, "circuit_recovering"),
    (Reason::CircuitForcedOpen, "circuit_forced_open"),
];

/// One breaker's registered series.
pub(crate) struct Export {
    success: Counter,
    failure: Counter,
    ignored: Counter,
    refusals: [Counter; 4],
    other_refusals: Counter,
    states: [Gauge; 7],
    transitions: [Counter; 7],
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Export")
    }
}

impl Export {
    /// Registers the series of the breaker called `name`, which starts in
    /// `state`.
    pub(crate) fn new(name: &str, state: State) -> Self {
        let calls = |outcome: &'static str| counter!(names::CIRCUIT_BREAKER_CALLS, names::LABEL_NAME => name.to_owned(), "outcome" => outcome);
        let refusals = |reason: &'static str| counter!(names::CIRCUIT_BREAKER_REFUSALS, names::LABEL_NAME => name.to_owned(), "reason" => reason);
        let export = Export {
            success: calls("success"),
            failure: calls("failure"),
            ignored: calls("ignored"),
            refusals: REASONS.map(|(_, label)| refusals(label)),
            other_refusals: refusals("other"),
            states: STATES.map(|s| {
                gauge!(names::CIRCUIT_BREAKER_STATE, names::LABEL_NAME => name.to_owned(), "state" => s.as_str())
            }),
            transitions: STATES.map(|s| {
                counter!(names::CIRCUIT_BREAKER_TRANSITIONS, names::LABEL_NAME => name.to_owned(), "to" => s.as_str())
            }),
        };
        export.show(state);
        export
    }

    /// An admitted call ended with `outcome`.
    #[inline]
    pub(crate) fn call(&self, outcome: Outcome) {
        match outcome {
            Outcome::Success => self.success.increment(1),
            Outcome::Failure => self.failure.increment(1),
            Outcome::Ignore => self.ignored.increment(1),
        }
    }

    /// The breaker refused a call.
    pub(crate) fn refused(&self, rejected: &Rejected) {
        let reason = rejected.reason();
        match REASONS.iter().position(|(r, _)| *r == reason) {
            Some(i) => self.refusals[i].increment(1),
            None => self.other_refusals.increment(1),
        }
    }

    /// The breaker entered `to`.
    pub(crate) fn entered(&self, to: State) {
        if let Some(i) = STATES.iter().position(|s| *s == to) {
            self.transitions[i].increment(1);
        }
        self.show(to);
    }

    /// Sets the state gauges: 1 for `state`, 0 for the others.
    fn show(&self, state: State) {
        for (s, g) in STATES.iter().zip(&self.states) {
            g.set(if *s == state { 1.0 } else { 0.0 });
        }
    }
}

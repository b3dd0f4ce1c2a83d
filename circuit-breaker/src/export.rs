//! Reporting through the `metrics` facade (feature `metrics`), under the
//! family's names ([`ballast_core::metric_names`]).
//!
//! Every series is registered once, when the breaker (or the keyed
//! registry) is built, so the call path only bumps a handle: with no
//! recorder installed then, the handles are no-ops. Without the feature
//! this file is not compiled and the breaker's paths carry no trace of it.
//!
//! A plain breaker registers its own [`Series`] and shows its state one-hot.
//! A keyed registry registers one `Series` under its name, whose state
//! gauges count keys; each key's breaker reports through a clone of its
//! handles (reference counts, no registration), so a new key costs no
//! registration and no per-key series exists. A key's breaker is counted
//! in the key gauges from when its entry is stored until the entry is
//! dropped ([`Export::count`], called under the breaker's transition lock,
//! so a transition and a count never interleave).

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

fn index(state: State) -> usize {
    STATES
        .iter()
        .position(|s| *s == state)
        .expect("STATES lists every state")
}

/// The registered handles of one breaker, or of a keyed registry (shared
/// by its keys' breakers).
#[derive(Clone)]
pub(crate) struct Series {
    success: Counter,
    failure: Counter,
    ignored: Counter,
    refusals: [Counter; 4],
    other_refusals: Counter,
    /// A breaker's: 1 for its state. A registry's: keys in each state.
    states: [Gauge; 7],
    transitions: [Counter; 7],
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Series")
    }
}

impl Series {
    /// Registers the series called `name`, with its state gauges under
    /// `state_gauge`.
    fn register(name: &str, state_gauge: &'static str) -> Self {
        let calls = |outcome: &'static str| counter!(names::CIRCUIT_BREAKER_CALLS, names::LABEL_NAME => name.to_owned(), "outcome" => outcome);
        let refusals = |reason: &'static str| counter!(names::CIRCUIT_BREAKER_REFUSALS, names::LABEL_NAME => name.to_owned(), "reason" => reason);
        Series {
            success: calls("success"),
            failure: calls("failure"),
            ignored: calls("ignored"),
            refusals: REASONS.map(|(_, label)| refusals(label)),
            other_refusals: refusals("other"),
            states: STATES.map(
                |s| gauge!(state_gauge, names::LABEL_NAME => name.to_owned(), "state" => s.as_str()),
            ),
            transitions: STATES.map(|s| {
                counter!(names::CIRCUIT_BREAKER_TRANSITIONS, names::LABEL_NAME => name.to_owned(), "to" => s.as_str())
            }),
        }
    }

    /// Registers the series of the keyed registry called `name`: calls,
    /// refusals and transitions summed over its keys, and how many keys
    /// are in each state. The key gauges are not set: they move by
    /// increments only, so registries sharing a name add up.
    pub(crate) fn keyed(name: &str) -> Self {
        Self::register(name, names::CIRCUIT_BREAKER_KEYS)
    }
}

/// Where one breaker reports.
pub(crate) struct Export {
    series: Series,
    /// A key's breaker: `states` count keys, moved by [`count`](Self::count)
    /// and by transitions while counted.
    keyed: bool,
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
        let export = Export {
            series: Series::register(name, names::CIRCUIT_BREAKER_STATE),
            keyed: false,
        };
        export.show(state);
        export
    }

    /// A key's breaker, reporting into its registry's `series`; not
    /// counted in the key gauges until [`count`](Self::count)ed.
    pub(crate) fn keyed(series: &Series) -> Self {
        Export {
            series: series.clone(),
            keyed: true,
        }
    }

    /// An admitted call ended with `outcome`.
    #[inline]
    pub(crate) fn call(&self, outcome: Outcome) {
        let s = &self.series;
        match outcome {
            Outcome::Success => s.success.increment(1),
            Outcome::Failure => s.failure.increment(1),
            Outcome::Ignore => s.ignored.increment(1),
        }
    }

    /// The breaker refused a call.
    pub(crate) fn refused(&self, rejected: &Rejected) {
        let reason = rejected.reason();
        match REASONS.iter().position(|(r, _)| *r == reason) {
            Some(i) => self.series.refusals[i].increment(1),
            None => self.series.other_refusals.increment(1),
        }
    }

    /// The breaker moved from `from` to `to`; `counted` says whether a
    /// key's breaker is counted in its registry's key gauges now. Call
    /// under the transition lock.
    pub(crate) fn entered(&self, from: State, to: State, counted: bool) {
        self.series.transitions[index(to)].increment(1);
        if !self.keyed {
            self.show(to);
        } else if counted && from != to {
            self.series.states[index(to)].increment(1.0);
            self.series.states[index(from)].decrement(1.0);
        }
    }

    /// A key's breaker in `state` starts (`by` 1.0) or stops (-1.0) being
    /// counted in its registry's key gauges. Nothing for a plain breaker.
    /// Call under the transition lock.
    pub(crate) fn count(&self, state: State, by: f64) {
        if self.keyed {
            self.series.states[index(state)].increment(by);
        }
    }

    /// Sets the state gauges: 1 for `state`, 0 for the others.
    fn show(&self, state: State) {
        for (s, g) in STATES.iter().zip(&self.series.states) {
            g.set(if *s == state { 1.0 } else { 0.0 });
        }
    }
}

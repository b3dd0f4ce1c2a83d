//! Reporting through the `metrics` facade (feature `metrics`), under the
//! family's names ([`ballast_core::metric_names`]).
//!
//! The series are registered once, when the policy is built, so a call
//! only bumps handles (no-ops if no recorder was installed then). A call
//! that succeeds at once adds one counter increment; everything else
//! happens on the paths of calls that fail or retry. Without the feature
//! this file is not compiled.

use crate::budget::RetryBudget;
use crate::plan::Stop;
use ::metrics::{Counter, Gauge, counter, gauge};
use ballast_core::metric_names as names;

/// Why a call gave up, in the order of the handles below.
const STOPS: [(Stop, &str); 6] = [
    (Stop::Attempts, "attempts"),
    (Stop::NotCloneable, "not_cloneable"),
    (Stop::Deadline, "deadline"),
    (Stop::MaxTotalTime, "max_total_time"),
    (Stop::Budget, "budget"),
    (Stop::Refused, "refused"),
];

/// One retry policy's registered series.
pub(crate) struct Export {
    success: Counter,
    failure: Counter,
    gave_up: Counter,
    expired: Counter,
    retries: Counter,
    give_ups: [Counter; 6],
    budget_refusals: Counter,
    budget_left: Gauge,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Export")
    }
}

impl Export {
    /// Registers the series of the policy called `name`, drawing on
    /// `budget`.
    pub(crate) fn new(name: &str, budget: &RetryBudget) -> Self {
        let calls = |outcome: &'static str| counter!(names::RETRY_CALLS, names::LABEL_NAME => name.to_owned(), "outcome" => outcome);
        let export = Export {
            success: calls("success"),
            failure: calls("failure"),
            gave_up: calls("gave_up"),
            expired: calls("expired"),
            retries: counter!(names::RETRY_RETRIES, names::LABEL_NAME => name.to_owned()),
            give_ups: STOPS.map(|(_, reason)| {
                counter!(names::RETRY_GIVE_UPS, names::LABEL_NAME => name.to_owned(), "reason" => reason)
            }),
            budget_refusals: counter!(names::RETRY_BUDGET_REFUSALS, names::LABEL_NAME => name.to_owned()),
            budget_left: gauge!(names::RETRY_BUDGET_LEFT, names::LABEL_NAME => name.to_owned()),
        };
        export.budget_read(budget);
        export
    }

    /// A call ended with the first result it did not retry.
    #[inline]
    pub(crate) fn returned(&self, ok: bool) {
        if ok {
            self.success.increment(1);
        } else {
            self.failure.increment(1);
        }
    }

    /// A call of the plain helper whose deadline had passed before its
    /// first attempt.
    pub(crate) fn expired(&self) {
        self.expired.increment(1);
    }

    /// A retry started.
    pub(crate) fn retry(&self) {
        self.retries.increment(1);
    }

    /// The budget gave a retry: what is left changed.
    pub(crate) fn withdrew(&self, budget: &RetryBudget) {
        self.budget_read(budget);
    }

    /// A call stopped with a retryable result, for `stop`.
    pub(crate) fn gave_up(&self, stop: Stop, budget: &RetryBudget) {
        self.gave_up.increment(1);
        if let Some(i) = STOPS.iter().position(|(s, _)| *s == stop) {
            self.give_ups[i].increment(1);
        }
        if stop == Stop::Budget {
            self.budget_refusals.increment(1);
            self.budget_read(budget);
        }
    }

    /// Sets the budget-left gauge (an unlimited budget reads as the
    /// largest count it reports).
    fn budget_read(&self, budget: &RetryBudget) {
        // Precision: a count of retries, far below 2^53.
        #[allow(clippy::cast_precision_loss)]
        self.budget_left.set(budget.available() as f64);
    }
}

/// One hedge policy's registered series.
pub(crate) struct HedgeExport {
    hedges: Counter,
}

impl std::fmt::Debug for HedgeExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HedgeExport")
    }
}

impl HedgeExport {
    /// Registers the series of the hedge policy called `name`.
    pub(crate) fn new(name: &str) -> Self {
        HedgeExport {
            hedges: counter!(names::RETRY_HEDGES, names::LABEL_NAME => name.to_owned()),
        }
    }

    /// A backup request was sent.
    pub(crate) fn hedge_sent(&self) {
        self.hedges.increment(1);
    }
}

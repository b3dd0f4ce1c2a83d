//! Reporting through the `metrics` facade (feature `metrics`), under the
//! family's names ([`ballast_core::metric_names`]).
//!
//! The series are registered once, when the bulkhead is built; a call
//! then bumps handles only (no-ops if no recorder was installed then).
//! The fixed bulkhead and the adaptive limiter report through it alike.
//! Without the feature this file is not compiled.

use ballast_core::metric_names::{self as names, reason_label};
use ballast_core::{Reason, Rejected};
use metrics::{Counter, Gauge, counter, gauge};

/// The refusals the bulkheads give (the fixed one the first four, the
/// adaptive one `Overloaded`), in the order of the handles below.
const REASONS: [Reason; 5] = [
    Reason::BulkheadFull,
    Reason::QueueFull,
    Reason::QueueTimeout,
    Reason::DeadlineExceeded,
    Reason::Overloaded,
];

/// One bulkhead's registered series.
pub(crate) struct Export {
    calls: Counter,
    refusals: [Counter; 5],
    other_refusals: Counter,
    in_flight: Gauge,
    limit: Gauge,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Export")
    }
}

impl Export {
    /// Registers the series of the bulkhead called `name` with `limit`.
    pub(crate) fn new(name: &str, limit: u32) -> Self {
        let refusals = |reason: &'static str| counter!(names::BULKHEAD_REFUSALS, names::LABEL_NAME => name.to_owned(), "reason" => reason);
        let export = Export {
            calls: counter!(names::BULKHEAD_CALLS, names::LABEL_NAME => name.to_owned()),
            refusals: REASONS.map(|r| refusals(reason_label(r))),
            other_refusals: refusals("other"),
            in_flight: gauge!(names::BULKHEAD_IN_FLIGHT, names::LABEL_NAME => name.to_owned()),
            limit: gauge!(names::BULKHEAD_LIMIT, names::LABEL_NAME => name.to_owned()),
        };
        export.set_limit(limit);
        export
    }

    /// The limit is now `limit` (an adaptive limit moved).
    pub(crate) fn set_limit(&self, limit: u32) {
        self.limit.set(f64::from(limit));
    }

    /// A call was admitted and now holds a permit (or runs over the limit).
    #[inline]
    pub(crate) fn acquired(&self) {
        self.calls.increment(1);
        self.in_flight.increment(1.0);
    }

    /// A call gave its permit back.
    #[inline]
    pub(crate) fn released(&self) {
        self.in_flight.decrement(1.0);
    }

    /// The bulkhead refused a call.
    pub(crate) fn refused(&self, rejected: &Rejected) {
        let reason = rejected.reason();
        match REASONS.iter().position(|r| *r == reason) {
            Some(i) => self.refusals[i].increment(1),
            None => self.other_refusals.increment(1),
        }
    }
}

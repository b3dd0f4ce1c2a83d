//! Reporting through the `metrics` facade (feature `metrics`), under the
//! family's names ([`ballast_core::metric_names`]).
//!
//! The series are registered once, when the limiter is built; a decision
//! then bumps one handle (a no-op if no recorder was installed then).
//! Direct and keyed limiters, whatever their algorithm (GCRA, fixed or
//! sliding window), report through their shared core; the Redis limiter
//! through its own. Without the feature this file is not compiled.

use ::metrics::{Counter, counter};
use ballast_core::metric_names::{self as names, reason_label};
use ballast_core::{Reason, Rejected};

/// The refusals a limiter gives, in the order of the handles below.
const REASONS: [Reason; 2] = [Reason::RateLimited, Reason::DeadlineExceeded];

/// One limiter's registered series.
pub(crate) struct Export {
    admitted: Counter,
    refusals: [Counter; 2],
    other_refusals: Counter,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Export")
    }
}

impl Export {
    /// Registers the series of the limiter called `name`.
    pub(crate) fn new(name: &str) -> Self {
        let refusals = |reason: &'static str| counter!(names::RATELIMIT_REFUSALS, names::LABEL_NAME => name.to_owned(), "reason" => reason);
        Export {
            admitted: counter!(names::RATELIMIT_CALLS, names::LABEL_NAME => name.to_owned()),
            refusals: REASONS.map(|r| refusals(reason_label(r))),
            other_refusals: refusals("other"),
        }
    }

    /// A request was admitted (at once or after a wait).
    #[inline]
    pub(crate) fn admitted(&self) {
        self.admitted.increment(1);
    }

    /// The limiter refused a request (in shadow mode: would have).
    pub(crate) fn refused(&self, rejected: &Rejected) {
        let reason = rejected.reason();
        match REASONS.iter().position(|r| *r == reason) {
            Some(i) => self.refusals[i].increment(1),
            None => self.other_refusals.increment(1),
        }
    }
}

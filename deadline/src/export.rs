//! Reporting through the `metrics` facade (feature `metrics`), under the
//! family's names ([`ballast_core::metric_names`]).
//!
//! The series are registered once, when the layer (or a [`Timeout`]
//! service made without one) is built. A call with a deadline carries a
//! reference to them in its future (one reference-count increment and
//! decrement per call) and bumps one handle when it ends; a call refused
//! or unbounded bumps one at once. Without the feature this file is not
//! compiled and the future carries nothing.
//!
//! [`Timeout`]: crate::Timeout

use ::metrics::{Counter, counter};
use ballast_core::metric_names as names;
use std::sync::Arc;

/// One timeout layer's registered series.
pub(crate) struct Export {
    within: Counter,
    exceeded: Counter,
    refused: Counter,
    unbounded: Counter,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Export")
    }
}

impl Export {
    /// Registers the series of the layer called `name`.
    pub(crate) fn new(name: &str) -> Arc<Self> {
        let outcome = |o: &'static str| counter!(names::DEADLINE_CALLS, names::LABEL_NAME => name.to_owned(), "outcome" => o);
        Arc::new(Export {
            within: outcome("within"),
            exceeded: outcome("exceeded"),
            refused: outcome("refused"),
            unbounded: outcome("unbounded"),
        })
    }

    /// A call with a deadline ended in time.
    #[inline]
    pub(crate) fn within(&self) {
        self.within.increment(1);
    }

    /// A call was cancelled at its deadline.
    pub(crate) fn exceeded(&self) {
        self.exceeded.increment(1);
    }

    /// A call was refused before it started: its deadline had passed.
    pub(crate) fn refused(&self) {
        self.refused.increment(1);
    }

    /// A call had neither a timeout nor a deadline.
    #[inline]
    pub(crate) fn unbounded(&self) {
        self.unbounded.increment(1);
    }
}

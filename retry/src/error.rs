//! Errors of the plain async helper; the rejection and the helper's error
//! are the family's shared [`Rejected`] and [`CallError`].

use ballast_core::{Reason, Rejected};

/// The rejection a call ends with when its deadline had passed before its
/// first attempt: the deadline's own, as every ballast crate returns.
pub(crate) fn deadline_exceeded() -> Rejected {
    Rejected::retry_later(Reason::DeadlineExceeded)
}

/// What [`retry`](crate::retry) returns on failure: the last attempt's
/// own error ([`CallError::Inner`]: not retryable, or the attempts, total
/// time, deadline or budget ran out), or the deadline's rejection when it
/// had passed before the first attempt ([`CallError::Rejected`] with
/// [`Reason::DeadlineExceeded`]). The family's shared type, from ballast-core.
pub use ballast_core::CallError;

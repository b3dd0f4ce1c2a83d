//! Errors of the plain async helper; the rejection and the helper's error
//! are the family's shared [`Rejected`] and [`CallError`].

use ballast_core::{Reason, Rejected};

/// The rejection a call ends with when its deadline leaves no time for
/// another attempt: the deadline's own, as every ballast crate returns.
pub(crate) fn deadline_exceeded() -> Rejected {
    Rejected::retry_later(Reason::DeadlineExceeded)
}

/// What [`retry`](crate::retry) returns on failure: the last attempt's
/// own error ([`CallError::Inner`]: not retryable, or the attempts, total
/// time or budget ran out), or the deadline's rejection when it left no
/// time for another attempt ([`CallError::Rejected`] with
/// [`Reason::DeadlineExceeded`]). The family's shared type, from ballast-core.
pub use ballast_core::CallError;

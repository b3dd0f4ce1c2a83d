//! Errors of the plain async helper; the rejection itself is the family's
//! shared [`Rejected`].

use ballast_core::{Reason, Rejected};
use std::fmt;

/// The rejection a call ends with when its deadline leaves no time for
/// another attempt: the deadline's own, as every ballast crate returns.
pub(crate) fn deadline_exceeded() -> Rejected {
    Rejected::retry_later(Reason::DeadlineExceeded)
}

/// What [`retry`](crate::retry) returns on failure: the last attempt's
/// own error, or a rejection when the deadline left no time to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The deadline was too close for another attempt
    /// ([`Reason::DeadlineExceeded`]).
    Rejected(Rejected),
    /// The last attempt failed with this error (not retryable, or the
    /// attempts, total time or budget ran out).
    Inner(E),
}

impl<E> CallError<E> {
    /// The rejection, if the call stopped at its deadline.
    pub fn rejected(&self) -> Option<&Rejected> {
        match self {
            CallError::Rejected(r) => Some(r),
            CallError::Inner(_) => None,
        }
    }

    /// The last attempt's own error, if the call did not stop at its
    /// deadline.
    pub fn into_inner(self) -> Option<E> {
        match self {
            CallError::Inner(e) => Some(e),
            CallError::Rejected(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(r) => r.fmt(f),
            CallError::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Rejected(r) => Some(r),
            CallError::Inner(e) => Some(e),
        }
    }
}

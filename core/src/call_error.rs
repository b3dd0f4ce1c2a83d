//! What the plain async helpers of every ballast crate return on failure.

use crate::Rejected;
use std::fmt;

/// The error of a ballast helper (`breaker.call(..)`, `retry(..)`, ...):
/// either a policy refused (the call was not made, or not made again), or
/// the call itself failed with its own error.
///
/// One type for the whole family, so code that stacks helpers matches on
/// one enum and reads the same [`Rejected`] whichever policy refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// A policy refused; its [`Rejected`] says why and when to retry.
    Rejected(Rejected),
    /// The call was made and this is its own error.
    Inner(E),
}

impl<E> CallError<E> {
    /// The rejection, if a policy refused.
    pub fn rejected(&self) -> Option<&Rejected> {
        match self {
            CallError::Rejected(r) => Some(r),
            CallError::Inner(_) => None,
        }
    }

    /// The call's own error, if it was made and failed.
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

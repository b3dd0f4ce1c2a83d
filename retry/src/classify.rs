//! What is worth retrying, and which requests can be sent again.

use std::time::Duration;

/// What to do with one attempt's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Hand the result to the caller: a success, or a failure that
    /// retrying will not fix.
    Return,
    /// A transient failure: retry after the backoff's delay.
    Retry,
    /// A transient failure whose source said when to come back (an HTTP
    /// `Retry-After`, say): retry after at least this long, or not at all
    /// if that is past the deadline.
    RetryAfter(Duration),
}

/// Decides what is worth retrying. Nothing is retried unless a classifier
/// says so: a retry layer cannot know which failures are transient (a
/// timeout usually is, a bad request never is), and retrying the wrong
/// ones multiplies load for nothing.
///
/// Implemented for any `Fn(&Result<Res, E>) -> Action`, so a closure is a
/// classifier:
///
/// ```
/// use ballast_retry::{Action, Classifier};
/// use std::io::ErrorKind;
///
/// let transient = |r: &Result<u16, std::io::Error>| match r {
///     Ok(503) => Action::Retry,
///     Ok(_) => Action::Return,
///     Err(e) if e.kind() == ErrorKind::ConnectionRefused => Action::Retry,
///     Err(_) => Action::Return,
/// };
/// assert_eq!(transient.classify(&Ok(503)), Action::Retry);
/// assert_eq!(transient.classify(&Ok(404)), Action::Return);
/// ```
pub trait Classifier<Res, E> {
    /// What to do with `result`.
    fn classify(&self, result: &Result<Res, E>) -> Action;
}

impl<F, Res, E> Classifier<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Action,
{
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Action {
        self(result)
    }
}

/// Every `Err` is transient and retried; every `Ok` is returned. For
/// operations whose errors are all worth another try (the budget still
/// caps the extra load); say so explicitly by choosing it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryErrors;

impl<Res, E> Classifier<Res, E> for RetryErrors {
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Action {
        match result {
            Ok(_) => Action::Return,
            Err(_) => Action::Retry,
        }
    }
}

/// Makes the copy of a request that a retry sends; `None` means this
/// request cannot be sent twice (a streaming body, say), so its failures
/// are returned without retrying.
///
/// Implemented for any `Fn(&Req) -> Option<Req>`.
pub trait CloneRequest<Req> {
    /// A copy of `req` for another attempt, if it can be made.
    fn clone_request(&self, req: &Req) -> Option<Req>;
}

/// The default: requests are `Clone`, and every one can be retried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloneRequests;

impl<Req: Clone> CloneRequest<Req> for CloneRequests {
    #[inline]
    fn clone_request(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

impl<F, Req> CloneRequest<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    #[inline]
    fn clone_request(&self, req: &Req) -> Option<Req> {
        self(req)
    }
}

//! Which call outcomes count as failures.

/// How one call counts toward the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Counts as a successful call.
    Success,
    /// Counts as a failed call.
    Failure,
    /// Counts as nothing (for example a 404, or a caller's own mistake);
    /// a half-open probe slot is given back.
    Ignore,
}

/// Decides how a call's result counts. Implemented for any
/// `Fn(&Result<Res, E>) -> Outcome`, so a closure is a classifier:
///
/// ```
/// use ballast_circuit_breaker::{Classifier, Outcome};
///
/// // Only timeouts count against the dependency; "not found" is ignored.
/// let classify = |r: &Result<u16, std::io::Error>| match r {
///     Ok(404) => Outcome::Ignore,
///     Ok(status) if *status >= 500 => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Outcome::Failure,
///     Err(_) => Outcome::Ignore,
/// };
/// assert_eq!(classify.classify(&Ok(503)), Outcome::Failure);
/// ```
pub trait Classifier<Res, E> {
    /// How `result` counts.
    fn classify(&self, result: &Result<Res, E>) -> Outcome;
}

/// The default classifier: every `Err` is a failure, every `Ok` a success.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorsAreFailures;

impl<Res, E> Classifier<Res, E> for ErrorsAreFailures {
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

impl<F, Res, E> Classifier<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Outcome,
{
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        self(result)
    }
}

//! [`HttpClassifier`]: which HTTP exchanges count against the dependency.

use super::errors::{AllErrors, ErrorFilter};
use super::status_set::StatusSet;
use crate::classify::{Classifier, Outcome};
use http::{Response, StatusCode};

/// Classifies an HTTP client's results for a breaker: 5xx and 429
/// responses and failed exchanges are failures, every other response a
/// success.
///
/// - A response whose status is in the failure set (by default every
///   status from 500 to 599, and 429 Too Many Requests: a dependency
///   shedding load is one to give room) is [`Outcome::Failure`]; any
///   other response is [`Outcome::Success`], a 4xx included (the
///   dependency answered; the request was wrong).
/// - An `Err` is [`Outcome::Failure`] if the [`ErrorFilter`] says so
///   (by default every error, [`AllErrors`]: an HTTP client's error means
///   the exchange did not complete, refused, reset or timed out), and
///   [`Outcome::Ignore`] otherwise (with feature `reqwest`,
///   [`TransportErrors`](super::TransportErrors) ignores a request reqwest
///   could not build, which never reached the dependency).
///
/// A refusal by a ballast layer below the breaker is never counted,
/// whatever this says (see [`CircuitBreaker`](crate::CircuitBreaker)).
///
/// Implemented for `http::Response<B>` and, with feature `reqwest`,
/// `reqwest::Response`, with any error type.
///
/// ```
/// use ballast_circuit_breaker::http::HttpClassifier;
/// use ballast_circuit_breaker::{Classifier, Outcome};
/// use http::{Response, StatusCode};
///
/// let classifier = HttpClassifier::new();
/// let answer = |status| -> Result<Response<()>, std::io::Error> {
///     Ok(Response::builder().status(status).body(()).unwrap())
/// };
/// assert_eq!(classifier.classify(&answer(StatusCode::BAD_GATEWAY)), Outcome::Failure);
/// assert_eq!(classifier.classify(&answer(StatusCode::TOO_MANY_REQUESTS)), Outcome::Failure);
/// assert_eq!(classifier.classify(&answer(StatusCode::NOT_FOUND)), Outcome::Success);
/// let refused: Result<Response<()>, _> =
///     Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// assert_eq!(classifier.classify(&refused), Outcome::Failure);
///
/// // A dependency whose 501 means "not built yet", not "failing".
/// let classifier = HttpClassifier::new().never_fail(StatusCode::NOT_IMPLEMENTED);
/// assert_eq!(classifier.classify(&answer(StatusCode::NOT_IMPLEMENTED)), Outcome::Success);
/// ```
#[derive(Debug, Clone)]
pub struct HttpClassifier<F = AllErrors> {
    /// The statuses that count as failures.
    statuses: StatusSet,
    /// Which `Err`s count as failures (the others count as nothing).
    errors: F,
}

impl HttpClassifier {
    /// Every 5xx and 429 are failures, and every `Err`.
    pub fn new() -> Self {
        let mut statuses = StatusSet::of((500..600).filter_map(|n| StatusCode::from_u16(n).ok()));
        statuses.insert(StatusCode::TOO_MANY_REQUESTS);
        Self {
            statuses,
            errors: AllErrors,
        }
    }
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl<F> HttpClassifier<F> {
    /// Counts exactly these statuses as failures (instead of every 5xx
    /// and 429).
    pub fn failure_statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.statuses = StatusSet::of(statuses);
        self
    }

    /// Counts `status` as a failure too (a 408 Request Timeout, say).
    pub fn also_fail(mut self, status: StatusCode) -> Self {
        self.statuses.insert(status);
        self
    }

    /// Counts `status` as a success (a 429 from a limiter that counts per
    /// caller, not a dependency in trouble, say).
    pub fn never_fail(mut self, status: StatusCode) -> Self {
        self.statuses.remove(status);
        self
    }

    /// Counts as failures only the `Err`s `errors` picks (a closure
    /// `Fn(&E) -> bool`, or [`TransportErrors`](super::TransportErrors)
    /// for reqwest); the others count as nothing.
    pub fn errors_if<F2>(self, errors: F2) -> HttpClassifier<F2> {
        HttpClassifier {
            statuses: self.statuses,
            errors,
        }
    }

    /// Whether a response with `status` counts as a failure.
    pub fn fails_status(&self, status: StatusCode) -> bool {
        self.statuses.contains(status)
    }

    /// The outcome of a response with `status`.
    #[inline]
    pub(crate) fn status_outcome(&self, status: StatusCode) -> Outcome {
        if self.statuses.contains(status) {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }

    /// The outcome of a failed exchange.
    #[inline]
    pub(crate) fn error_outcome<E>(&self, error: &E) -> Outcome
    where
        F: ErrorFilter<E>,
    {
        if self.errors.is_failure(error) {
            Outcome::Failure
        } else {
            Outcome::Ignore
        }
    }
}

impl<B, E, F: ErrorFilter<E>> Classifier<Response<B>, E> for HttpClassifier<F> {
    #[inline]
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome {
        match result {
            Ok(response) => self.status_outcome(response.status()),
            Err(e) => self.error_outcome(e),
        }
    }
}

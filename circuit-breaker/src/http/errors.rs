//! [`ErrorFilter`]: which failed exchanges count against the dependency.

/// Decides whether an `Err` from an HTTP client counts as a failure of
/// the dependency ([`HttpClassifier`](super::HttpClassifier) counts the
/// others as nothing).
///
/// Implemented for any `Fn(&E) -> bool`:
///
/// ```
/// use ballast_circuit_breaker::http::{ErrorFilter, HttpClassifier};
///
/// // Only errors of the connection count; a bad request of ours does not.
/// let connection = |e: &std::io::Error| e.kind() != std::io::ErrorKind::InvalidInput;
/// assert!(connection.is_failure(&std::io::ErrorKind::ConnectionReset.into()));
/// let classifier = HttpClassifier::new().errors_if(connection);
/// # let _ = classifier;
/// ```
pub trait ErrorFilter<E> {
    /// Whether `error` counts as a failure of the dependency.
    fn is_failure(&self, error: &E) -> bool;
}

impl<F: Fn(&E) -> bool, E> ErrorFilter<E> for F {
    #[inline]
    fn is_failure(&self, error: &E) -> bool {
        self(error)
    }
}

/// Every error counts as a failure: the default, since an HTTP client's
/// error means the exchange did not complete (refused, reset, timed out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllErrors;

impl<E> ErrorFilter<E> for AllErrors {
    #[inline]
    fn is_failure(&self, _: &E) -> bool {
        true
    }
}

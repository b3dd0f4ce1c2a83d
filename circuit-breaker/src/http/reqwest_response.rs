//! `reqwest::Response` and `reqwest::Error` for the HTTP classifier
//! (feature `reqwest`).

use super::classifier::HttpClassifier;
use super::errors::ErrorFilter;
use crate::classify::{Classifier, Outcome};
use ballast_core::BoxError;

/// A `reqwest::Response` counts as its status says, as an
/// `http::Response` does.
impl<E, F: ErrorFilter<E>> Classifier<reqwest::Response, E> for HttpClassifier<F> {
    #[inline]
    fn classify(&self, result: &Result<reqwest::Response, E>) -> Outcome {
        match result {
            Ok(response) => self.status_outcome(response.status()),
            Err(e) => self.error_outcome(e),
        }
    }
}

/// The `reqwest::Error`s that are the dependency's or the network's
/// fault: every one but a request reqwest could not build
/// (`is_builder`: a bad URL or header of ours, never sent). A connect
/// error, a timeout, a reset or a broken body is a failure.
///
/// Also reads a [`BoxError`] (the error of a reqwest client under other
/// ballast layers): a `reqwest::Error` in it as above, any other error as
/// a failure.
///
/// ```
/// use ballast_circuit_breaker::http::{HttpClassifier, TransportErrors};
///
/// let classifier = HttpClassifier::new().errors_if(TransportErrors);
/// # let _ = classifier;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportErrors;

impl ErrorFilter<reqwest::Error> for TransportErrors {
    #[inline]
    fn is_failure(&self, error: &reqwest::Error) -> bool {
        !error.is_builder()
    }
}

impl ErrorFilter<BoxError> for TransportErrors {
    #[inline]
    fn is_failure(&self, error: &BoxError) -> bool {
        error
            .downcast_ref::<reqwest::Error>()
            .is_none_or(|e| self.is_failure(e))
    }
}

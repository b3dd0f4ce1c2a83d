//! [`GrpcHttpClassifier`]: gRPC statuses read from HTTP responses.

use super::code::GrpcCode;
use super::rules::{GrpcRules, Pushback};
use crate::classify::{Action, Classifier};
use crate::transient::{NoErrors, TransientError};
use http::{Response, StatusCode};

/// Classifies `Result<http::Response<B>, E>` of a gRPC call made at the
/// HTTP level (a tower stack below tonic's codec, say).
///
/// - A response with a `grpc-status` header (a "trailers-only" response,
///   which is how servers send an error before any message) is retried as
///   [`GrpcRules`] say, honouring `grpc-retry-pushback-ms`; a malformed
///   `grpc-status` counts as UNKNOWN.
/// - A response without `grpc-status` and with an HTTP status other than
///   200 (a proxy's error page) is mapped to a gRPC code as gRPC clients
///   do ([`GrpcCode::from_http_status`]: 429, 502, 503 and 504 are
///   UNAVAILABLE).
/// - Any other response is returned: a status that arrives in the
///   trailers, after the body, cannot be seen before the body is read.
/// - An `Err` is retried only if the [`TransientError`] filter says so
///   (none, unless set: [`ConnectionErrors`](crate::ConnectionErrors) is
///   the usual choice).
///
/// ```
/// use ballast_retry::grpc::GrpcHttpClassifier;
/// use ballast_retry::{Action, Classifier};
/// use http::Response;
/// use std::time::Duration;
///
/// let classifier = GrpcHttpClassifier::new();
/// let unavailable: Result<_, std::io::Error> = Ok(Response::builder()
///     .header("grpc-status", "14")
///     .header("grpc-retry-pushback-ms", "200")
///     .body(())?);
/// assert_eq!(classifier.classify(&unavailable), Action::RetryAfter(Duration::from_millis(200)));
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GrpcHttpClassifier<P = NoErrors> {
    rules: GrpcRules,
    errors: P,
}

impl GrpcHttpClassifier {
    /// The default [`GrpcRules`] (UNAVAILABLE), no `Err` retried.
    pub fn new() -> Self {
        Self {
            rules: GrpcRules::default(),
            errors: NoErrors,
        }
    }
}

impl Default for GrpcHttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> GrpcHttpClassifier<P> {
    /// Retries as `rules` say.
    pub fn rules(mut self, rules: GrpcRules) -> Self {
        self.rules = rules;
        self
    }

    /// Retries the `Err`s that `errors` calls transient.
    pub fn retry_errors_if<P2>(self, errors: P2) -> GrpcHttpClassifier<P2> {
        GrpcHttpClassifier {
            rules: self.rules,
            errors,
        }
    }

    /// The rules it retries by.
    pub fn get_rules(&self) -> &GrpcRules {
        &self.rules
    }
}

impl<B, E, P> Classifier<Response<B>, E> for GrpcHttpClassifier<P>
where
    P: TransientError<E>,
{
    fn classify(&self, result: &Result<Response<B>, E>) -> Action {
        let response = match result {
            Ok(response) => response,
            Err(e) if self.errors.is_transient(e) => return Action::Retry,
            Err(_) => return Action::Return,
        };
        let headers = response.headers();
        let code = match headers.get("grpc-status") {
            Some(v) => std::str::from_utf8(v.as_bytes())
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .and_then(GrpcCode::from_i32)
                .unwrap_or(GrpcCode::Unknown),
            None if response.status() == StatusCode::OK => return Action::Return,
            None => GrpcCode::from_http_status(response.status().as_u16()),
        };
        if code == GrpcCode::Ok {
            return Action::Return;
        }
        let pushback = headers
            .get("grpc-retry-pushback-ms")
            .map(|v| Pushback::parse(v.as_bytes()));
        self.rules.decide(code, pushback)
    }
}

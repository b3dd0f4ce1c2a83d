//! [`HttpClassifier`]: what an HTTP client should retry, and when.

use super::clock::{SystemClock, WallClock};
use super::date::parse_retry_after;
use super::status_set::StatusSet;
use crate::classify::{Action, Classifier};
use crate::transient::{NoErrors, TransientError};
use http::{HeaderMap, Response, StatusCode, header::RETRY_AFTER};
use std::time::Duration;

/// The statuses retried by default: 429 Too Many Requests, 502 Bad
/// Gateway, 503 Service Unavailable and 504 Gateway Timeout.
pub const DEFAULT_STATUSES: [StatusCode; 4] = [
    StatusCode::TOO_MANY_REQUESTS,
    StatusCode::BAD_GATEWAY,
    StatusCode::SERVICE_UNAVAILABLE,
    StatusCode::GATEWAY_TIMEOUT,
];

/// The longest `Retry-After` honoured unless set: 60 s.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Classifies `Result<http::Response<B>, E>` for an HTTP client.
///
/// - A response whose status is retryable ([`DEFAULT_STATUSES`] unless
///   set) is retried. If it carries `Retry-After` (delay-seconds or an
///   HTTP-date in any of RFC 9110's three forms, measured against the
///   [`WallClock`]), the retry waits at least that long
///   ([`Action::RetryAfter`]), at most
///   [`max_retry_after`](Self::max_retry_after); a wait longer than the
///   time left before the deadline or the total time limit ends the call
///   with this response instead. A malformed `Retry-After` is ignored (the
///   backoff applies).
/// - Every other response is returned, successes and other errors alike.
/// - An `Err` is retried only if the [`TransientError`] filter says so.
///   By default none is ([`NoErrors`]): a generic error type does not say
///   whether the request reached the server. Most clients want
///   [`ConnectionErrors`](crate::ConnectionErrors) (refused, reset,
///   timed out, ... anywhere in the source chain: fits hyper, hyper-util
///   and reqwest), or a closure over their own error type
///   (`|e: &reqwest::Error| e.is_connect() || e.is_timeout()`).
///
/// Which requests may be sent again is the layer's request cloner's
/// question, not the classifier's (a classifier sees only the result).
/// The layers' default cloner ([`CloneRequests`](crate::CloneRequests))
/// sends an `http::Request` again only if its method is idempotent, it
/// carries an `Idempotency-Key` or it is a gRPC call: a `POST` that got a
/// 503 comes back after one attempt. Opt in to more with
/// [`IdempotentRequests::allow`](super::IdempotentRequests::allow) or
/// [`AnyRequests`](crate::AnyRequests).
///
/// ```
/// use ballast_retry::http::HttpClassifier;
/// use ballast_retry::{Action, Classifier, ConnectionErrors};
/// use http::{Response, StatusCode};
/// use std::time::Duration;
///
/// let classifier = HttpClassifier::new().retry_errors_if(ConnectionErrors);
/// let busy: Result<Response<()>, std::io::Error> = Ok(Response::builder()
///     .status(StatusCode::SERVICE_UNAVAILABLE)
///     .header("retry-after", "2")
///     .body(())?);
/// assert_eq!(classifier.classify(&busy), Action::RetryAfter(Duration::from_secs(2)));
///
/// let refused: Result<Response<()>, _> =
///     Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// assert_eq!(classifier.classify(&refused), Action::Retry);
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpClassifier<P = NoErrors, W = SystemClock> {
    statuses: StatusSet,
    /// Caps a server's `Retry-After`, so one far-off date cannot park a
    /// call (the deadline and total time still apply on top).
    max_retry_after: Duration,
    errors: P,
    clock: W,
}

impl HttpClassifier {
    /// Retries 429, 502, 503 and 504, honours `Retry-After` up to 60 s,
    /// retries no `Err`.
    pub fn new() -> Self {
        Self {
            statuses: StatusSet::of(DEFAULT_STATUSES),
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            errors: NoErrors,
            clock: SystemClock,
        }
    }
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl<P, W> HttpClassifier<P, W> {
    /// Retries exactly these statuses (instead of the default four).
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.statuses = StatusSet::of(statuses);
        self
    }

    /// Retries `status` too (a 500 from a server known to fail
    /// transiently, say).
    pub fn also_retry(mut self, status: StatusCode) -> Self {
        self.statuses.insert(status);
        self
    }

    /// Does not retry `status` (429 from a limiter that counts retries
    /// against the caller, say).
    pub fn never_retry(mut self, status: StatusCode) -> Self {
        self.statuses.remove(status);
        self
    }

    /// The longest `Retry-After` honoured (60 s unless set): a longer one
    /// is cut to this. Zero ignores `Retry-After` altogether.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// Retries the `Err`s that `errors` calls transient, such as
    /// [`ConnectionErrors`](crate::ConnectionErrors) or
    /// [`AllErrors`](crate::AllErrors) or a closure `Fn(&E) -> bool`.
    pub fn retry_errors_if<P2>(self, errors: P2) -> HttpClassifier<P2, W> {
        HttpClassifier {
            statuses: self.statuses,
            max_retry_after: self.max_retry_after,
            errors,
            clock: self.clock,
        }
    }

    /// Measures HTTP-date `Retry-After`s against `clock` (a closure
    /// `Fn() -> SystemTime`, say) instead of the system's clock.
    pub fn wall_clock<W2>(self, clock: W2) -> HttpClassifier<P, W2> {
        HttpClassifier {
            statuses: self.statuses,
            max_retry_after: self.max_retry_after,
            errors: self.errors,
            clock,
        }
    }

    /// Whether a response with `status` is retried.
    pub fn retries_status(&self, status: StatusCode) -> bool {
        self.statuses.contains(status)
    }
}

impl<P, W: WallClock> HttpClassifier<P, W> {
    /// What to do with a response of `status` and `headers`, whatever the
    /// client's response type (`http::Response`, `reqwest::Response`).
    #[inline]
    pub(super) fn classify_response(&self, status: StatusCode, headers: &HeaderMap) -> Action {
        if !self.statuses.contains(status) {
            return Action::Return;
        }
        if self.max_retry_after.is_zero() {
            return Action::Retry;
        }
        let wait = headers
            .get(RETRY_AFTER)
            .and_then(|v| parse_retry_after(v.as_bytes(), self.clock.now()));
        match wait {
            Some(wait) if !wait.is_zero() => Action::RetryAfter(wait.min(self.max_retry_after)),
            _ => Action::Retry,
        }
    }

    /// What to do with a failed exchange.
    #[inline]
    pub(super) fn classify_error<E>(&self, error: &E) -> Action
    where
        P: TransientError<E>,
    {
        if self.errors.is_transient(error) {
            Action::Retry
        } else {
            Action::Return
        }
    }
}

impl<B, E, P, W> Classifier<Response<B>, E> for HttpClassifier<P, W>
where
    P: TransientError<E>,
    W: WallClock,
{
    fn classify(&self, result: &Result<Response<B>, E>) -> Action {
        match result {
            Ok(response) => self.classify_response(response.status(), response.headers()),
            Err(e) => self.classify_error(e),
        }
    }
}

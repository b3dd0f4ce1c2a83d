//! reqwest as the client (feature `reqwest`): its responses and errors
//! for [`HttpClassifier`], and its requests copied for retries with
//! `try_clone`.

use super::classifier::HttpClassifier;
use super::clock::WallClock;
use super::requests::{IDEMPOTENCY_KEY, IdempotentRequests, is_grpc_headers, is_idempotent};
use crate::classify::{Action, Classifier, CloneRequest, CloneRequests};
use crate::transient::TransientError;
use ballast_core::BoxError;

/// A `reqwest::Response` is classified by its status and `Retry-After`,
/// as an `http::Response` is.
impl<E, P, W> Classifier<reqwest::Response, E> for HttpClassifier<P, W>
where
    P: TransientError<E>,
    W: WallClock,
{
    #[inline]
    fn classify(&self, result: &Result<reqwest::Response, E>) -> Action {
        match result {
            Ok(response) => self.classify_response(response.status(), response.headers()),
            Err(e) => self.classify_error(e),
        }
    }
}

/// The `reqwest::Error`s worth another try: a connection that could not
/// be made (`is_connect`) and a timeout (`is_timeout`). Not a request
/// reqwest could not build, a redirect loop, or a body that broke after
/// the server answered.
///
/// A timeout may come after the server got the request, so, as for
/// every retry, only requests safe to send twice are sent again (the
/// layer's cloner decides: an idempotent method or an `Idempotency-Key`).
///
/// Also reads a [`BoxError`] (the error of a reqwest client under other
/// layers): the `reqwest::Error` in it as above, any other error not.
///
/// ```
/// use ballast_retry::http::{HttpClassifier, ReqwestErrors};
///
/// let classifier = HttpClassifier::new().retry_errors_if(ReqwestErrors);
/// # let _ = classifier;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReqwestErrors;

impl TransientError<reqwest::Error> for ReqwestErrors {
    #[inline]
    fn is_transient(&self, error: &reqwest::Error) -> bool {
        error.is_connect() || error.is_timeout()
    }
}

impl TransientError<BoxError> for ReqwestErrors {
    #[inline]
    fn is_transient(&self, error: &BoxError) -> bool {
        error
            .downcast_ref::<reqwest::Error>()
            .is_some_and(|e| self.is_transient(e))
    }
}

/// Whether a `reqwest::Request` may be sent again by the default rule:
/// an idempotent method, an `Idempotency-Key`, or a gRPC call.
#[inline]
fn may_resend(req: &reqwest::Request) -> bool {
    is_idempotent(req.method())
        || req.headers().contains_key(IDEMPOTENCY_KEY)
        || is_grpc_headers(req.headers())
}

/// The default cloner copies a `reqwest::Request` with `try_clone` when
/// it is safe to send again (the same rule as for an `http::Request`: an
/// idempotent method, an `Idempotency-Key` or a gRPC call). A request
/// whose body is a stream cannot be copied (`try_clone` is `None`): it is
/// sent once and its first outcome returned, whatever the classifier says.
impl CloneRequest<reqwest::Request> for CloneRequests {
    #[inline]
    fn clone_request(&self, req: &reqwest::Request) -> Option<reqwest::Request> {
        if may_resend(req) {
            req.try_clone()
        } else {
            None
        }
    }
}

/// Copies a `reqwest::Request` with `try_clone` when its method is
/// allowed (or it carries an `Idempotency-Key`, or is a gRPC call); a
/// streaming body is never copied, so such a request is sent once.
impl CloneRequest<reqwest::Request> for IdempotentRequests {
    #[inline]
    fn clone_request(&self, req: &reqwest::Request) -> Option<reqwest::Request> {
        let allowed = self.allows(req.method())
            || req.headers().contains_key(IDEMPOTENCY_KEY)
            || is_grpc_headers(req.headers());
        if allowed { req.try_clone() } else { None }
    }
}

/// [`AnyRequests`](crate::AnyRequests) asks for `Clone`, which a
/// `reqwest::Request` is not: this copies every `reqwest::Request` whose
/// body can be copied (`try_clone`), whatever its method, for a server
/// that makes every request safe to repeat.
///
/// ```
/// use ballast_retry::http::{AnyReqwestRequests, HttpClassifier};
/// use ballast_retry::{Config, Policy};
///
/// let policy = Policy::new(Config::default(), HttpClassifier::new());
/// let layer = policy.layer().clone_requests_with(AnyReqwestRequests);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnyReqwestRequests;

impl CloneRequest<reqwest::Request> for AnyReqwestRequests {
    #[inline]
    fn clone_request(&self, req: &reqwest::Request) -> Option<reqwest::Request> {
        req.try_clone()
    }
}

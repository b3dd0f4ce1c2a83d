//! A [`Rejected`] as the HTTP response a server should send (feature
//! `http`): status and `Retry-After` after the
//! [table](crate::answer#the-table).

use crate::answer::{Side, Verdict};
use crate::{BoxError, Rejected};
use ::http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use ::http::{Response, StatusCode};

impl Rejected {
    /// The status a server answers this refusal with, for a layer on
    /// `side` (see the [table](crate::answer#the-table)).
    pub fn http_status(&self, side: Side) -> StatusCode {
        match self.verdict(side) {
            Verdict::TooMany => StatusCode::TOO_MANY_REQUESTS,
            Verdict::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Verdict::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Verdict::CallerNever => StatusCode::BAD_REQUEST,
            Verdict::OursNever => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `Retry-After` value for this refusal: its wait in whole
    /// seconds, rounded up so a client that waits finds it passed, and at
    /// least 1; `None` when the wait is unknown or there is none.
    pub fn retry_after_header(&self) -> Option<HeaderValue> {
        let wait = self.retry_after_hint()?;
        let secs = wait
            .as_secs()
            .saturating_add(u64::from(wait.subsec_nanos() > 0));
        Some(HeaderValue::from(secs.max(1)))
    }

    /// The response a server sends for this refusal, for a layer on
    /// `side`: the [status](Self::http_status), `Retry-After` when the
    /// wait is known, and the refusal's text as a `text/plain` body.
    ///
    /// ```
    /// use ballast_core::{Reason, Rejected, Side};
    /// use std::time::Duration;
    ///
    /// let limited = Rejected::retry_after(Reason::RateLimited, Duration::from_millis(1500));
    /// let res = limited.to_http_response::<String>(Side::Server);
    /// assert_eq!(res.status(), 429);
    /// assert_eq!(res.headers()["retry-after"], "2");
    /// // Our own client-side limit toward a dependency: not the caller's fault.
    /// assert_eq!(limited.to_http_response::<String>(Side::Client).status(), 503);
    /// ```
    pub fn to_http_response<B: From<String>>(&self, side: Side) -> Response<B> {
        let mut res = Response::new(B::from(format!("{self}\n")));
        *res.status_mut() = self.http_status(side);
        let headers = res.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Some(value) = self.retry_after_header() {
            headers.insert(RETRY_AFTER, value);
        }
        res
    }
}

/// The response for `err` if it holds a ballast refusal anywhere in its
/// source chain ([`Rejected::find`]), refused on `side`; `None` for any
/// other error, which the caller answers as it sees fit (usually 500).
pub fn rejection_response<B: From<String>>(err: &BoxError, side: Side) -> Option<Response<B>> {
    Rejected::find(err).map(|rejected| rejected.to_http_response(side))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Reason, RetryAfter};
    use std::time::Duration;

    fn every_reason() -> [Reason; 10] {
        [
            Reason::CircuitOpen,
            Reason::CircuitHalfOpenBusy,
            Reason::CircuitRecovering,
            Reason::CircuitForcedOpen,
            Reason::BulkheadFull,
            Reason::QueueFull,
            Reason::QueueTimeout,
            Reason::Overloaded,
            Reason::RateLimited,
            Reason::DeadlineExceeded,
        ]
    }

    fn each_kind(reason: Reason) -> [Rejected; 3] {
        [
            Rejected::retry_after(reason, Duration::from_millis(2500)),
            Rejected::retry_later(reason),
            Rejected::never(reason),
        ]
    }

    #[test]
    fn every_reason_and_kind_maps_as_the_table_says() {
        for reason in every_reason() {
            for r in each_kind(reason) {
                for side in [Side::Server, Side::Client] {
                    let res = r.to_http_response::<String>(side);
                    let expected = match (r.retry_after_value(), reason, side) {
                        (RetryAfter::Never, _, Side::Server) => 400,
                        (RetryAfter::Never, _, Side::Client) => 500,
                        (_, Reason::RateLimited, Side::Server) => 429,
                        (_, Reason::DeadlineExceeded, _) => 504,
                        _ => 503,
                    };
                    assert_eq!(res.status(), expected, "{r:?} on {side:?}");
                    let retry_after = res.headers().get(RETRY_AFTER);
                    match r.retry_after_value() {
                        RetryAfter::After(_) => {
                            assert_eq!(retry_after.map(|v| v.to_str().ok()), Some(Some("3")));
                        }
                        _ => assert!(retry_after.is_none(), "{r:?}"),
                    }
                    assert_eq!(res.body(), &format!("{r}\n"));
                }
            }
        }
    }

    #[test]
    fn a_client_side_refusal_is_never_a_429() {
        for reason in every_reason() {
            for r in each_kind(reason) {
                assert_ne!(r.http_status(Side::Client), StatusCode::TOO_MANY_REQUESTS);
            }
        }
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let wait = |d| Rejected::retry_after(Reason::Overloaded, d).retry_after_header();
        assert_eq!(wait(Duration::ZERO), Some(HeaderValue::from(1_u64)));
        assert_eq!(
            wait(Duration::from_millis(1)),
            Some(HeaderValue::from(1_u64))
        );
        assert_eq!(wait(Duration::from_secs(2)), Some(HeaderValue::from(2_u64)));
        assert_eq!(
            wait(Duration::from_millis(2001)),
            Some(HeaderValue::from(3_u64))
        );
        assert_eq!(wait(Duration::MAX), Some(HeaderValue::from(u64::MAX)));
    }

    #[test]
    fn rejection_response_finds_a_wrapped_refusal_and_ignores_other_errors() {
        #[derive(Debug)]
        struct Wrapper(Rejected);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err: BoxError = Box::new(Wrapper(Rejected::retry_later(Reason::QueueFull)));
        let res = rejection_response::<String>(&err, Side::Server).expect("a refusal");
        assert_eq!(res.status(), 503);
        let other: BoxError = "connection reset".into();
        assert!(rejection_response::<String>(&other, Side::Server).is_none());
    }
}

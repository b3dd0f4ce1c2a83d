//! The gRPC classifiers follow gRPC's retry design (A6): a configurable
//! set of retryable codes (UNAVAILABLE by default), the server's pushback
//! honoured, and a negative or malformed pushback meaning "do not retry".

mod common;

use ballast_retry::grpc::{GrpcClassifier, GrpcCode, GrpcRules, Pushback};
use ballast_retry::{Action, Classifier, Policy, retry};
use common::builder;
use std::time::Duration;
use tokio::time::Instant;

/// A stand-in for `tonic::Status`.
#[derive(Debug)]
struct Status {
    code: i32,
    pushback: Option<&'static str>,
}

fn err(code: i32, pushback: Option<&'static str>) -> Result<(), Status> {
    Err(Status { code, pushback })
}

fn classifier() -> impl Classifier<(), Status> {
    GrpcClassifier::new(|s: &Status| s.code)
        .pushback(|s: &Status| s.pushback.map(|v| Pushback::parse(v.as_bytes())))
}

#[test]
fn the_seventeen_codes_round_trip_through_their_numbers() {
    for n in 0..17 {
        let code = GrpcCode::from_i32(n).unwrap();
        assert_eq!(code.as_i32(), n);
    }
    assert_eq!(GrpcCode::from_i32(14), Some(GrpcCode::Unavailable));
    assert_eq!(GrpcCode::from_i32(-1), None);
    assert_eq!(GrpcCode::from_i32(17), None);
    assert_eq!(
        GrpcCode::ResourceExhausted.to_string(),
        "RESOURCE_EXHAUSTED"
    );
}

#[test]
fn by_default_only_unavailable_is_retried() {
    let c = classifier();
    for n in -3..20 {
        let expected = if n == 14 {
            Action::Retry
        } else {
            Action::Return
        };
        assert_eq!(c.classify(&err(n, None)), expected, "code {n}");
    }
    assert_eq!(c.classify(&Ok(())), Action::Return);
}

#[test]
fn the_retryable_codes_are_configurable() {
    let c = GrpcClassifier::new(|s: &Status| s.code).rules(GrpcRules::default().retryable([
        GrpcCode::Aborted,
        GrpcCode::Internal,
        GrpcCode::Ok,
    ]));
    assert_eq!(c.classify(&err(10, None)), Action::Retry);
    assert_eq!(c.classify(&err(13, None)), Action::Retry);
    assert_eq!(c.classify(&err(14, None)), Action::Return);
    assert_eq!(
        c.classify(&err(0, None)),
        Action::Return,
        "OK is never retried"
    );
}

#[test]
fn a_pushback_is_the_least_delay_and_is_capped() {
    let c = classifier();
    assert_eq!(
        c.classify(&err(14, Some("1500"))),
        Action::RetryAfter(Duration::from_millis(1500))
    );
    assert_eq!(c.classify(&err(14, Some("0"))), Action::Retry);
    assert_eq!(
        c.classify(&err(14, Some("99999999999999999999999"))),
        Action::RetryAfter(Duration::from_secs(60))
    );
    let capped = GrpcClassifier::new(|s: &Status| s.code)
        .pushback(|s: &Status| s.pushback.map(|v| Pushback::parse(v.as_bytes())))
        .rules(GrpcRules::default().max_pushback(Duration::from_millis(200)));
    assert_eq!(
        capped.classify(&err(14, Some("1500"))),
        Action::RetryAfter(Duration::from_millis(200))
    );
    // A pushback does not make a code retryable (RESOURCE_EXHAUSTED aside).
    assert_eq!(c.classify(&err(3, Some("100"))), Action::Return);
}

#[test]
fn a_negative_or_malformed_pushback_means_do_not_retry() {
    let c = classifier();
    for bad in ["-1", "-100", "", "1.5", "soon", " 100", "0x10"] {
        assert_eq!(c.classify(&err(14, Some(bad))), Action::Return, "{bad:?}");
        assert_eq!(
            Pushback::parse(bad.as_bytes()),
            Pushback::DoNotRetry,
            "{bad:?}"
        );
    }
}

#[test]
fn resource_exhausted_is_retried_only_with_a_pushback() {
    let c = classifier();
    assert_eq!(c.classify(&err(8, None)), Action::Return);
    assert_eq!(
        c.classify(&err(8, Some("250"))),
        Action::RetryAfter(Duration::from_millis(250))
    );
    let off = GrpcClassifier::new(|s: &Status| s.code)
        .pushback(|s: &Status| s.pushback.map(|v| Pushback::parse(v.as_bytes())))
        .rules(GrpcRules::default().resource_exhausted_with_pushback(false));
    assert_eq!(off.classify(&err(8, Some("250"))), Action::Return);
}

#[tokio::test(start_paused = true)]
async fn the_helper_waits_out_the_pushback_then_returns_the_last_status() {
    let policy = Policy::new(builder().max_attempts(3).build().unwrap(), classifier());
    let start = Instant::now();
    let mut starts = Vec::new();
    let result = retry(&policy, || {
        starts.push(start.elapsed().as_millis());
        async { err(14, Some("700")) }
    })
    .await;
    // Backoff 100 ms, pushback 700 ms: 700 wins each time.
    assert_eq!(starts, [0, 700, 1400]);
    let last = result.unwrap_err().into_inner().expect("the status itself");
    assert_eq!(last.code, 14);
}

#[cfg(feature = "http")]
mod over_http {
    use super::*;
    use ballast_retry::ConnectionErrors;
    use ballast_retry::grpc::GrpcHttpClassifier;
    use http::Response;
    use std::io;

    fn response(status: u16, headers: &[(&str, &str)]) -> Result<Response<()>, io::Error> {
        let mut r = Response::builder().status(status);
        for (name, value) in headers {
            r = r.header(*name, *value);
        }
        Ok(r.body(()).unwrap())
    }

    #[test]
    fn grpc_status_and_pushback_are_read_from_the_headers() {
        let c = GrpcHttpClassifier::new();
        assert_eq!(
            c.classify(&response(200, &[("grpc-status", "14")])),
            Action::Retry
        );
        assert_eq!(
            c.classify(&response(200, &[("grpc-status", "0")])),
            Action::Return
        );
        assert_eq!(
            c.classify(&response(200, &[("grpc-status", "3")])),
            Action::Return
        );
        assert_eq!(
            c.classify(&response(
                200,
                &[("grpc-status", "14"), ("grpc-retry-pushback-ms", "40")]
            )),
            Action::RetryAfter(Duration::from_millis(40))
        );
        assert_eq!(
            c.classify(&response(
                200,
                &[("grpc-status", "14"), ("grpc-retry-pushback-ms", "-1")]
            )),
            Action::Return
        );
        // Malformed: UNKNOWN, not retried.
        assert_eq!(
            c.classify(&response(200, &[("grpc-status", "x")])),
            Action::Return
        );
        // No status in the headers: in the trailers, out of sight.
        assert_eq!(c.classify(&response(200, &[])), Action::Return);
    }

    #[test]
    fn an_http_error_without_grpc_status_maps_as_grpc_clients_map_it() {
        let c = GrpcHttpClassifier::new();
        for (status, expected) in [
            (429, Action::Retry),
            (502, Action::Retry),
            (503, Action::Retry),
            (504, Action::Retry),
            (400, Action::Return),
            (404, Action::Return),
            (500, Action::Return),
        ] {
            assert_eq!(c.classify(&response(status, &[])), expected, "{status}");
        }
        assert_eq!(GrpcCode::from_http_status(404), GrpcCode::Unimplemented);
        assert_eq!(GrpcCode::from_http_status(418), GrpcCode::Unknown);
    }

    #[test]
    fn errors_are_retried_only_when_a_filter_says_so() {
        let refused: Result<Response<()>, io::Error> = Err(io::ErrorKind::ConnectionRefused.into());
        assert_eq!(GrpcHttpClassifier::new().classify(&refused), Action::Return);
        let c = GrpcHttpClassifier::new().retry_errors_if(ConnectionErrors);
        assert_eq!(c.classify(&refused), Action::Retry);
    }
}

//! The HTTP classifier over `reqwest::Response` through a real breaker
//! service, with reqwest's `Client` (a tower service) calling a real axum
//! server on loopback: a 503 with `Retry-After` is a failure and opens the
//! circuit, a refused connection is a failure, a request reqwest could
//! not build is not the dependency's fault.
//!
//! Real sockets, so the real clock; nothing here waits on time.
#![cfg(feature = "reqwest")]

mod common;
mod http_server;

use ballast_circuit_breaker::http::{HttpClassifier, TransportErrors};
use ballast_circuit_breaker::{BoxError, Breaker, Reason, Rejected, State};
use common::builder;
use reqwest::{Client, Method, Request, StatusCode};
use tower::{ServiceBuilder, ServiceExt};

fn get(url: &str) -> Request {
    Request::new(Method::GET, url.parse().expect("a valid url"))
}

/// Count window of 10, trips at 50% after 4 calls.
fn breaker() -> Breaker {
    Breaker::new(builder(1).build().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_with_retry_after_from_reqwest_counts_and_opens_the_circuit() {
    let server = http_server::start().await;
    let b = breaker();
    let client = ServiceBuilder::new()
        .layer(b.layer().classifier(HttpClassifier::new()))
        .service(Client::new());
    for _ in 0..4 {
        let response = client.clone().oneshot(get(&server.url(503))).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "7");
    }
    assert_eq!(b.metrics().failures, 4);
    assert_eq!(b.state(), State::Open);
    let err = client
        .clone()
        .oneshot(get(&server.url(200)))
        .await
        .unwrap_err();
    let rejected = err
        .downcast_ref::<Rejected>()
        .expect("refused by the breaker");
    assert_eq!(rejected.reason(), Reason::CircuitOpen);
    assert_eq!(
        server.hits(),
        4,
        "the refused call never reached the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_responses_below_500_are_successes() {
    let server = http_server::start().await;
    let b = breaker();
    let client = ServiceBuilder::new()
        .layer(b.layer().classifier(HttpClassifier::new()))
        .service(Client::new());
    for code in [200, 404, 400, 200, 204] {
        let response = client
            .clone()
            .oneshot(get(&server.url(code)))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code);
    }
    assert_eq!((b.metrics().calls, b.metrics().failures), (5, 0));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reqwest_connection_counts_as_a_failure() {
    let nowhere = http_server::closed_port().await;
    let b = breaker();
    let client = ServiceBuilder::new()
        .layer(
            b.layer()
                .classifier(HttpClassifier::new().errors_if(TransportErrors)),
        )
        .service(Client::new());
    for _ in 0..4 {
        let err = client
            .clone()
            .oneshot(get(&format!("http://{nowhere}/")))
            .await
            .unwrap_err();
        let err = err
            .downcast_ref::<reqwest::Error>()
            .expect("reqwest's error");
        assert!(err.is_connect(), "{err}");
    }
    assert_eq!(b.metrics().failures, 4);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_reqwest_cannot_build_counts_as_nothing_with_transport_errors() {
    let b = breaker();
    let client = ServiceBuilder::new()
        .layer(
            b.layer()
                .classifier(HttpClassifier::new().errors_if(TransportErrors)),
        )
        .service(Client::new());
    for _ in 0..6 {
        // A scheme reqwest does not speak: refused before anything is sent.
        let err = client
            .clone()
            .oneshot(get("ftp://127.0.0.1/"))
            .await
            .unwrap_err();
        let err = err
            .downcast_ref::<reqwest::Error>()
            .expect("reqwest's error");
        assert!(err.is_builder(), "{err}");
    }
    assert_eq!((b.metrics().calls, b.metrics().failures), (0, 0));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_reads_a_boxed_error_from_layers_below() {
    use ballast_circuit_breaker::http::ErrorFilter;
    let builder_error: BoxError = Client::new()
        .execute(get("ftp://127.0.0.1/"))
        .await
        .unwrap_err()
        .into();
    assert!(!TransportErrors.is_failure(&builder_error));
    let other: BoxError = std::io::Error::other("reset").into();
    assert!(TransportErrors.is_failure(&other));
}

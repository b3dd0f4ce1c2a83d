//! The HTTP classifier through a real breaker service, over a real axum
//! server on loopback and hyper-util's client: 5xx and 429 responses and
//! refused connections trip the breaker, other responses do not, and the
//! failure set is configurable.
//!
//! Real sockets, so the real clock; nothing here waits on time.
#![cfg(feature = "http")]

mod common;
mod http_server;

use ballast_circuit_breaker::http::HttpClassifier;
use ballast_circuit_breaker::{Breaker, Reason, Rejected, State};
use common::builder;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};

type HyperClient = Client<HttpConnector, Empty<Bytes>>;

fn hyper_client() -> HyperClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn get(url: &str) -> Request<Empty<Bytes>> {
    Request::get(url).body(Empty::new()).unwrap()
}

/// Count window of 10, trips at 50% after 4 calls.
fn breaker() -> Breaker {
    Breaker::new(builder(1).build().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundreds_from_a_real_server_open_the_circuit_and_later_calls_never_reach_it() {
    let server = http_server::start().await;
    let b = breaker();
    let mut client = ServiceBuilder::new()
        .layer(b.layer().classifier(HttpClassifier::new()))
        .service(hyper_client());
    for code in [500, 502, 503, 504] {
        let response = client
            .ready()
            .await
            .unwrap()
            .call(get(&server.url(code)))
            .await;
        let response = response.expect("a 5xx is an Ok response, passed through");
        assert_eq!(response.status().as_u16(), code);
    }
    assert_eq!(b.state(), State::Open, "4 failures of 4 calls");
    assert_eq!(b.metrics().failures, 4);

    let err = client
        .ready()
        .await
        .unwrap()
        .call(get(&server.url(200)))
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
async fn too_many_requests_counts_as_a_failure_by_default() {
    let server = http_server::start().await;
    let b = breaker();
    let client = ServiceBuilder::new()
        .layer(b.layer().classifier(HttpClassifier::new()))
        .service(hyper_client());
    for _ in 0..4 {
        let response = client.clone().oneshot(get(&server.url(429))).await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successes_and_client_errors_keep_the_circuit_closed() {
    let server = http_server::start().await;
    let b = breaker();
    let client = ServiceBuilder::new()
        .layer(b.layer().classifier(HttpClassifier::new()))
        .service(hyper_client());
    for code in [200, 201, 204, 301, 400, 401, 404, 409, 422, 200] {
        let response = client
            .clone()
            .oneshot(get(&server.url(code)))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code);
    }
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (10, 0));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_counts_as_a_failure() {
    let nowhere = http_server::closed_port().await;
    let b = breaker();
    let client = ServiceBuilder::new()
        .layer(b.layer().classifier(HttpClassifier::new()))
        .service(hyper_client());
    for _ in 0..4 {
        let err = client
            .clone()
            .oneshot(get(&format!("http://{nowhere}/")))
            .await
            .unwrap_err();
        assert!(
            err.downcast_ref::<Rejected>().is_none(),
            "the client's own error: {err}"
        );
    }
    assert_eq!(b.metrics().failures, 4);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failure_set_is_configurable() {
    let server = http_server::start().await;
    // 503 is a dependency's planned maintenance here, not a failure; 404
    // is an endpoint that is gone, which is.
    let classifier = HttpClassifier::new()
        .never_fail(StatusCode::SERVICE_UNAVAILABLE)
        .also_fail(StatusCode::NOT_FOUND);
    assert!(!classifier.fails_status(StatusCode::SERVICE_UNAVAILABLE));
    let b = breaker();
    let client = ServiceBuilder::new()
        .layer(b.layer().classifier(classifier))
        .service(hyper_client());
    for _ in 0..4 {
        client.clone().oneshot(get(&server.url(503))).await.unwrap();
    }
    assert_eq!((b.metrics().failures, b.state()), (0, State::Closed));
    for _ in 0..4 {
        client.clone().oneshot(get(&server.url(404))).await.unwrap();
    }
    assert_eq!(b.metrics().failures, 4);
    assert_eq!(b.state(), State::Open, "4 failures of 8 calls: 50%");

    // Exactly a given set: only 500.
    let only_500 = HttpClassifier::new().failure_statuses([StatusCode::INTERNAL_SERVER_ERROR]);
    assert!(only_500.fails_status(StatusCode::INTERNAL_SERVER_ERROR));
    assert!(!only_500.fails_status(StatusCode::BAD_GATEWAY));
    assert!(!only_500.fails_status(StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_the_filter_leaves_out_count_as_nothing() {
    let nowhere = http_server::closed_port().await;
    let b = breaker();
    let client = ServiceBuilder::new()
        .layer(b.layer().classifier(
            HttpClassifier::new().errors_if(|_: &hyper_util::client::legacy::Error| false),
        ))
        .service(hyper_client());
    for _ in 0..6 {
        client
            .clone()
            .oneshot(get(&format!("http://{nowhere}/")))
            .await
            .unwrap_err();
    }
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (0, 0), "ignored: not in the window");
    assert_eq!(b.state(), State::Closed);
}

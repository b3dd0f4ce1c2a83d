//! Retry with reqwest as the client: reqwest's `Client` (a tower service
//! of `reqwest::Request`) under the retry layer, calling a real axum
//! server on loopback. A GET answered 503 is retried; a POST is not sent
//! again unless allowed; a streaming body is sent once; reqwest's connect
//! errors are retried with `ReqwestErrors`; a real 503's `Retry-After` is
//! read from a `reqwest::Response`.
//!
//! Real sockets, so the real clock: backoffs are 1 ms, and no assertion
//! depends on timing.
#![cfg(feature = "reqwest")]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header::RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use ballast_retry::http::{
    AnyReqwestRequests, HttpClassifier, IDEMPOTENCY_KEY, IdempotentRequests, ReqwestErrors,
};
use ballast_retry::{Action, Backoff, Classifier, Config, Policy};
use reqwest::{Body, Client, Method, Request};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tower::{ServiceBuilder, ServiceExt};

/// The server: answers 503 (with `Retry-After: 7`) to the first
/// `failures` requests, then 200; counts every request and the bytes of
/// the body it read.
struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn request(&self, method: Method) -> Request {
        Request::new(
            method,
            format!("http://{}/items", self.addr).parse().unwrap(),
        )
    }
}

async fn server(failures: usize) -> Server {
    let hits = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route(
            "/items",
            any(
                move |State(hits): State<Arc<AtomicUsize>>, body: Bytes| async move {
                    let n = hits.fetch_add(1, Ordering::SeqCst);
                    if n < failures {
                        let mut r = (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
                        r.headers_mut()
                            .insert(RETRY_AFTER, HeaderValue::from_static("7"));
                        r
                    } else {
                        let r: Response =
                            (StatusCode::OK, format!("read {}", body.len())).into_response();
                        r
                    }
                },
            ),
        )
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    Server { addr, hits }
}

/// 3 attempts, 1 ms apart, no budget (the tests count attempts exactly),
/// and `Retry-After` ignored so nothing waits 7 s.
fn policy() -> Policy<HttpClassifier<ReqwestErrors>> {
    Policy::new(
        Config::builder()
            .max_attempts(3)
            .backoff(Backoff::constant(Duration::from_millis(1)).build().unwrap())
            .no_budget()
            .build()
            .unwrap(),
        HttpClassifier::new()
            .retry_errors_if(ReqwestErrors)
            .max_retry_after(Duration::ZERO),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_answered_503_is_retried_until_the_server_answers() {
    let server = server(2).await;
    let policy = policy();
    let client = ServiceBuilder::new()
        .layer(policy.layer())
        .service(Client::new());
    let response = client.oneshot(server.request(Method::GET)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.hits(), 3);
    assert_eq!(policy.metrics().retries, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_is_sent_once_by_default_and_again_only_when_allowed() {
    let server = server(usize::MAX).await;
    let policy = policy();
    let client = ServiceBuilder::new()
        .layer(policy.layer())
        .service(Client::new());
    let mut post = server.request(Method::POST);
    *post.body_mut() = Some(Body::from("{}"));
    let response = client.oneshot(post).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.hits(), 1, "a POST is not re-sent by default");

    // With an idempotency key, the default cloner sends it again.
    let client = ServiceBuilder::new()
        .layer(policy.layer())
        .service(Client::new());
    let mut keyed = server.request(Method::POST);
    keyed
        .headers_mut()
        .insert(IDEMPOTENCY_KEY, HeaderValue::from_static("order-7"));
    *keyed.body_mut() = Some(Body::from("{}"));
    client.oneshot(keyed).await.unwrap();
    assert_eq!(server.hits(), 1 + 3);

    // Allowed by method, and by `AnyReqwestRequests`.
    let allowed = ServiceBuilder::new()
        .layer(
            policy
                .layer()
                .clone_requests_with(IdempotentRequests::new().allow(Method::POST)),
        )
        .service(Client::new());
    allowed.oneshot(server.request(Method::POST)).await.unwrap();
    assert_eq!(server.hits(), 4 + 3);
    let any = ServiceBuilder::new()
        .layer(policy.layer().clone_requests_with(AnyReqwestRequests))
        .service(Client::new());
    any.oneshot(server.request(Method::PATCH)).await.unwrap();
    assert_eq!(server.hits(), 7 + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_body_is_sent_once_and_its_first_outcome_returned() {
    let server = server(usize::MAX).await;
    let policy = policy();
    let client = ServiceBuilder::new()
        .layer(policy.layer().clone_requests_with(AnyReqwestRequests))
        .service(Client::new());
    let mut put = server.request(Method::PUT);
    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("{\"a\":"), Ok("1}")];
    *put.body_mut() = Some(Body::wrap_stream(futures::stream::iter(chunks)));
    assert!(put.try_clone().is_none(), "a stream cannot be copied");
    let response = client.oneshot(put).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.hits(), 1, "sent once, though the 503 is retryable");
    assert_eq!(policy.metrics().attempts, 1);

    // The same PUT with a body in memory is retried.
    let mut put = server.request(Method::PUT);
    *put.body_mut() = Some(Body::from("{\"a\":1}"));
    let client = ServiceBuilder::new()
        .layer(policy.layer())
        .service(Client::new());
    client.oneshot(put).await.unwrap();
    assert_eq!(server.hits(), 1 + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reqwest_connection_is_retried_with_reqwest_errors() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = listener.local_addr().unwrap();
    drop(listener);
    let policy = policy();
    let client = ServiceBuilder::new()
        .layer(policy.layer())
        .service(Client::new());
    let req = Request::new(Method::GET, format!("http://{nowhere}/").parse().unwrap());
    let err = client.oneshot(req).await.unwrap_err();
    let err = err
        .downcast_ref::<reqwest::Error>()
        .expect("reqwest's own error");
    assert!(err.is_connect(), "{err}");
    assert_eq!(policy.metrics().attempts, 3);

    // A request reqwest cannot build is not retried.
    let client = ServiceBuilder::new()
        .layer(policy.layer())
        .service(Client::new());
    let ftp = Request::new(Method::GET, "ftp://127.0.0.1/".parse().unwrap());
    client.oneshot(ftp).await.unwrap_err();
    assert_eq!(policy.metrics().attempts, 3 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_503s_retry_after_is_read_from_a_reqwest_response() {
    let server = server(1).await;
    let response = Client::new()
        .execute(server.request(Method::GET))
        .await
        .unwrap();
    let classifier = HttpClassifier::new().retry_errors_if(ReqwestErrors);
    let result: Result<reqwest::Response, reqwest::Error> = Ok(response);
    assert_eq!(
        classifier.classify(&result),
        Action::RetryAfter(Duration::from_secs(7))
    );
    let ok: Result<reqwest::Response, reqwest::Error> = Ok(Client::new()
        .execute(server.request(Method::GET))
        .await
        .unwrap());
    assert_eq!(classifier.classify(&ok), Action::Return);
}

//! Deadlines over reqwest, with a real reqwest `Client` (a tower service
//! of `reqwest::Request`) calling a real axum server on loopback: the
//! budget arrives in the headers, and `ClientDeadlineLayer` gives up at
//! the deadline when the server does not answer.
//!
//! Real sockets, so the real clock: assertions leave wide room for a
//! loaded machine and never depend on one task getting somewhere first.
#![cfg(feature = "reqwest")]

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use ballast_deadline::codec::{DEFAULT_TIMEOUT_MS_HEADER, GRPC_TIMEOUT};
use ballast_deadline::propagate::{ClientDeadlineLayer, SendConfig, SendDeadlineLayer};
use ballast_deadline::{Config, Deadline, Reason, Rejected};
use reqwest::{Client, Method, Request};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tower::{ServiceBuilder, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The server: `/echo` answers with the budget headers it received
/// (`"<ms>|<grpc-timeout>"`, `-` for a missing one); `/hang` never answers
/// in time. Both count the requests that reached them.
async fn server() -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let echo_hits = hits.clone();
    let hang_hits = hits.clone();
    let router = Router::new()
        .route(
            "/echo",
            get(move |headers: HeaderMap| {
                echo_hits.fetch_add(1, Ordering::SeqCst);
                async move {
                    let read = |name: &str| {
                        headers
                            .get(name)
                            .map_or("-".to_owned(), |v| v.to_str().unwrap().to_owned())
                    };
                    format!("{}|{}", read(DEFAULT_TIMEOUT_MS_HEADER), read(GRPC_TIMEOUT))
                }
            }),
        )
        .route(
            "/hang",
            get(move || {
                hang_hits.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_secs(120)).await;
                    "too late"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, hits)
}

fn request(addr: SocketAddr, path: &str) -> Request {
    Request::new(Method::GET, format!("http://{addr}{path}").parse().unwrap())
}

/// The milliseconds header of an `/echo` answer.
async fn sent_millis(response: reqwest::Response) -> Option<u64> {
    let body = response.text().await.unwrap();
    let (millis, _grpc) = body.split_once('|').unwrap();
    millis.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_deadline_sends_the_remaining_budget_to_a_real_server_over_reqwest() {
    let (addr, _) = server().await;
    let client = ServiceBuilder::new()
        .layer(ClientDeadlineLayer::new(
            Config::with_timeout(ms(2_000)).unwrap(),
        ))
        .service(Client::new());
    let response = client.oneshot(request(addr, "/echo")).await.unwrap();
    let millis = sent_millis(response).await.expect("the header arrived");
    // 2 s less the default 5 ms margin, less what the call took to start.
    assert!((1_000..=1_995).contains(&millis), "sent {millis} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_deadline_gives_up_at_the_deadline_when_the_server_does_not_answer() {
    let (addr, _) = server().await;
    let client = ServiceBuilder::new()
        .layer(ClientDeadlineLayer::new(
            Config::with_timeout(ms(300)).unwrap(),
        ))
        .service(Client::new());
    let started = Instant::now();
    let err = client.oneshot(request(addr, "/hang")).await.unwrap_err();
    let elapsed = started.elapsed();
    let rejected = Rejected::find(&err).expect("the deadline's refusal");
    assert_eq!(rejected.reason(), Reason::DeadlineExceeded);
    assert!(elapsed >= ms(300), "gave up early: {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(60),
        "waited past the deadline: {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tasks_deadline_binds_when_it_is_earlier_than_the_layers_timeout() {
    let (addr, _) = server().await;
    let client = ServiceBuilder::new()
        .layer(ClientDeadlineLayer::new(
            Config::with_timeout(Duration::from_secs(30)).unwrap(),
        ))
        .service(Client::new());
    let response = Deadline::after(ms(800))
        .scope(client.oneshot(request(addr, "/echo")))
        .await
        .unwrap();
    let millis = sent_millis(response).await.unwrap();
    assert!(millis <= 795, "sent {millis} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_deadline_alone_writes_the_tasks_deadline_into_a_reqwest_request() {
    let (addr, _) = server().await;
    let client = ServiceBuilder::new()
        .layer(SendDeadlineLayer::new(
            SendConfig::builder().margin(ms(100)).build().unwrap(),
        ))
        .service(Client::new());
    let response = Deadline::after(ms(1_000))
        .scope(client.oneshot(request(addr, "/echo")))
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    let (millis, grpc) = body.split_once('|').unwrap();
    let millis: u64 = millis.parse().unwrap();
    assert!((500..=900).contains(&millis), "sent {millis} ms");
    assert_ne!(grpc, "-", "grpc-timeout is sent by default too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shorter_reqwest_timeout_on_the_request_bounds_the_budget_sent() {
    let (addr, _) = server().await;
    let client = ServiceBuilder::new()
        .layer(ClientDeadlineLayer::new(
            Config::with_timeout(Duration::from_secs(30)).unwrap(),
        ))
        .service(Client::new());
    let mut req = request(addr, "/echo");
    *req.timeout_mut() = Some(ms(250));
    let response = client.oneshot(req).await.unwrap();
    assert_eq!(sent_millis(response).await, Some(250));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_any_deadline_sends_no_header() {
    let (addr, _) = server().await;
    let client = ServiceBuilder::new()
        .layer(ClientDeadlineLayer::new(Config::default()))
        .service(Client::new());
    let response = client.oneshot(request(addr, "/echo")).await.unwrap();
    assert_eq!(response.text().await.unwrap(), "-|-");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_no_budget_left_after_the_margin_is_never_sent() {
    let (addr, hits) = server().await;
    // 3 ms of timeout, 5 ms of margin: nothing to pass on.
    let client = ServiceBuilder::new()
        .layer(ClientDeadlineLayer::new(
            Config::with_timeout(ms(3)).unwrap(),
        ))
        .service(Client::new());
    let err = client.oneshot(request(addr, "/echo")).await.unwrap_err();
    assert_eq!(
        Rejected::find(&err).map(Rejected::reason),
        Some(Reason::DeadlineExceeded)
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

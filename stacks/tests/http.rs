//! The client stack users put in front of an HTTP dependency, end to end:
//! overall deadline, retry, circuit breaker, bulkhead and deadline
//! propagation, over hyper to an axum server that reads the deadline.
//!
//! - Over an in-memory pipe (`tokio::io::duplex`) on tokio's paused
//!   clock, so timings are exact: a paused clock jumps ahead only when
//!   every task waits on a timer, which an in-memory pipe allows and a
//!   real socket does not.
//! - Over real loopback HTTP on the real clock, asserting outcomes with
//!   generous time bounds; each test stops by itself within seconds.

mod common;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use ballast_bulkhead::Bulkhead;
use ballast_circuit_breaker::{Breaker, SlidingWindow};
use ballast_core::Reason;
use ballast_deadline::propagate::{
    ReceiveConfig, ReceiveDeadlineLayer, SendConfig, SendDeadlineLayer,
};
use ballast_deadline::{Deadline, TimeoutLayer};
use ballast_retry::http::HttpClassifier;
use ballast_retry::{Policy, is_connection_error};
use common::{BoxError, MS, reason, retry_config};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt, service_fn};

type Client = BoxCloneSyncService<Request<String>, Response<hyper::body::Incoming>, BoxError>;

// ---- The server ----

/// What the server saw.
#[derive(Default)]
struct Seen {
    calls: AtomicUsize,
    flaky_calls: AtomicUsize,
    posts: AtomicUsize,
    /// Set when a `/slow` handler is dropped before its work ends.
    slow_cancelled: AtomicBool,
    /// The budget each request arrived with, in ms.
    budgets_ms: Mutex<Vec<u128>>,
}

struct CancelFlag(Arc<Seen>, bool);

impl Drop for CancelFlag {
    fn drop(&mut self) {
        if !self.1 {
            self.0.slow_cancelled.store(true, Ordering::SeqCst);
        }
    }
}

fn note(seen: &Seen) {
    seen.calls.fetch_add(1, Ordering::SeqCst);
    let left = Deadline::current().map_or(u128::MAX, |d| d.remaining().as_millis());
    seen.budgets_ms.lock().unwrap().push(left);
}

/// `/ok` answers at once, `/flaky` answers 503 twice then 200, `/slow`
/// works for 5 s, `POST /orders` answers 503; all under the deadline the
/// caller sent.
fn server(seen: Arc<Seen>) -> Router {
    Router::new()
        .route(
            "/ok",
            get(|State(seen): State<Arc<Seen>>| async move {
                note(&seen);
                "ok"
            }),
        )
        .route(
            "/flaky",
            get(|State(seen): State<Arc<Seen>>| async move {
                note(&seen);
                match seen.flaky_calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    _ => "recovered".into_response(),
                }
            }),
        )
        .route(
            "/slow",
            get(|State(seen): State<Arc<Seen>>| async move {
                note(&seen);
                let mut flag = CancelFlag(seen, false);
                tokio::time::sleep(Duration::from_secs(5)).await;
                flag.1 = true;
                "late"
            }),
        )
        .route(
            "/orders",
            post(|State(seen): State<Arc<Seen>>| async move {
                note(&seen);
                seen.posts.fetch_add(1, Ordering::SeqCst);
                StatusCode::SERVICE_UNAVAILABLE
            }),
        )
        .layer(ReceiveDeadlineLayer::new(ReceiveConfig::default()))
        .with_state(seen)
}

// ---- Transports ----

/// hyper over an in-memory pipe: each request opens a pipe, serves the
/// router on one end and sends the request on the other.
fn duplex_transport(router: Router) -> Client {
    BoxCloneSyncService::new(service_fn(move |req: Request<String>| {
        let router = router.clone();
        async move {
            let (client_io, server_io) = tokio::io::duplex(64 * 1024);
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(
                TokioIo::new(server_io),
                hyper_util::service::TowerToHyperService::new(router),
            ));
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake::<_, String>(TokioIo::new(client_io)).await?;
            tokio::spawn(conn);
            Ok::<_, BoxError>(sender.send_request(req).await?)
        }
    }))
}

/// hyper over real loopback TCP, a connection per request.
fn tcp_transport(addr: std::net::SocketAddr) -> Client {
    BoxCloneSyncService::new(service_fn(move |req: Request<String>| async move {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, String>(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok::<_, BoxError>(sender.send_request(req).await?)
    }))
}

// ---- The client stack ----

struct Stack {
    client: Client,
    breaker: Breaker,
    bulkhead: Bulkhead,
}

/// Deadline → retry (HTTP rules, connection errors, 5 ms backoff) →
/// breaker (opens after 4 failed calls of 4) → bulkhead (4) → deadline
/// propagation (10 ms margin) → `transport`.
fn stack(deadline: Duration, transport: Client) -> Stack {
    let breaker = Breaker::new(
        ballast_circuit_breaker::Config::builder()
            .sliding_window(SlidingWindow::count(4))
            .minimum_calls(4)
            .failure_rate_threshold(100.0)
            .wait_in_open(Duration::from_secs(30))
            .build()
            .unwrap(),
    );
    let bulkhead = Bulkhead::new(
        ballast_bulkhead::Config::builder()
            .max_concurrent_calls(4)
            .build()
            .unwrap(),
    );
    let retry = Policy::new(
        retry_config(3),
        // A stack's errors are boxed: look for a connection error inside.
        HttpClassifier::new().retry_errors_if(|e: &BoxError| is_connection_error(e.as_ref())),
    );
    let client = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(TimeoutLayer::new(
                ballast_deadline::Config::builder()
                    .timeout(deadline)
                    .build()
                    .unwrap(),
            ))
            .layer(retry.layer())
            .layer(breaker.layer())
            .layer(bulkhead.layer())
            .layer(SendDeadlineLayer::new(
                SendConfig::builder().margin(10 * MS).build().unwrap(),
            ))
            .service(transport),
    );
    Stack {
        client,
        breaker,
        bulkhead,
    }
}

fn get_req(path: &str) -> Request<String> {
    Request::get(format!("http://ballast.test{path}"))
        .body(String::new())
        .unwrap()
}

async fn body(res: Response<hyper::body::Incoming>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

// ---- In memory, paused clock: exact timings ----

#[tokio::test(start_paused = true)]
async fn over_a_pipe_the_server_gets_the_budget_less_the_margin_and_cancels_at_it() {
    let seen = Arc::new(Seen::default());
    let s = stack(200 * MS, duplex_transport(server(seen.clone())));
    let start = Instant::now();
    let res = s.client.clone().oneshot(get_req("/slow")).await.unwrap();
    let elapsed = start.elapsed();
    // The server's deadline (200 - 10 ms) fires first: it answers 504 and
    // drops the handler. Retry sees a retryable 504 with 10 ms left, not
    // enough for another 190 ms attempt, and hands the 504 back.
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(elapsed, 190 * MS);
    assert!(seen.slow_cancelled.load(Ordering::SeqCst));
    assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
    assert_eq!(*seen.budgets_ms.lock().unwrap(), [190]);
    assert_eq!(s.bulkhead.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn over_a_pipe_a_flaky_get_is_retried_with_a_shrinking_budget() {
    let seen = Arc::new(Seen::default());
    let s = stack(200 * MS, duplex_transport(server(seen.clone())));
    let start = Instant::now();
    let res = s.client.clone().oneshot(get_req("/flaky")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "recovered");
    assert_eq!(start.elapsed(), 10 * MS, "two 5 ms backoffs, no other wait");
    // Each attempt passed on what was left of the one deadline.
    assert_eq!(*seen.budgets_ms.lock().unwrap(), [190, 185, 180]);
}

#[tokio::test(start_paused = true)]
async fn over_a_pipe_a_post_that_got_503_is_sent_once() {
    let seen = Arc::new(Seen::default());
    let s = stack(200 * MS, duplex_transport(server(seen.clone())));
    let req = Request::post("http://ballast.test/orders")
        .body("{}".to_owned())
        .unwrap();
    let res = s.client.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(seen.posts.load(Ordering::SeqCst), 1, "never re-sent");
}

#[tokio::test(start_paused = true)]
async fn over_a_pipe_an_expired_caller_sends_nothing() {
    let seen = Arc::new(Seen::default());
    let s = stack(200 * MS, duplex_transport(server(seen.clone())));
    // The caller's own deadline (5 ms) is under the 10 ms margin.
    let err = Deadline::after(5 * MS)
        .scope(s.client.clone().oneshot(get_req("/ok")))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Reason::DeadlineExceeded);
    assert_eq!(seen.calls.load(Ordering::SeqCst), 0);
}

// ---- Real loopback HTTP, real clock: outcomes, generous bounds ----

async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_loopback_the_stack_retries_bounds_and_propagates() {
    let seen = Arc::new(Seen::default());
    let addr = serve(server(seen.clone())).await;
    let s = stack(Duration::from_millis(500), tcp_transport(addr));

    let res = s.client.clone().oneshot(get_req("/ok")).await.unwrap();
    assert_eq!(body(res).await, "ok");

    let res = s.client.clone().oneshot(get_req("/flaky")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(seen.flaky_calls.load(Ordering::SeqCst), 3);

    let start = std::time::Instant::now();
    let outcome = s.client.clone().oneshot(get_req("/slow")).await;
    let elapsed = start.elapsed();
    match outcome {
        // The server's deadline fired first (the usual case) ...
        Ok(res) => assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT),
        // ... or, on a slow machine, the client's own.
        Err(e) => assert_eq!(reason(&e), Reason::DeadlineExceeded),
    }
    assert!(elapsed < Duration::from_secs(3), "bounded: {elapsed:?}");
    // The server stopped working on it.
    let stop_by = std::time::Instant::now() + Duration::from_secs(3);
    while !seen.slow_cancelled.load(Ordering::SeqCst) {
        assert!(std::time::Instant::now() < stop_by, "handler not cancelled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for budget in seen.budgets_ms.lock().unwrap().iter() {
        assert!(
            *budget <= 490,
            "sent less than the 500 ms deadline: {budget}"
        );
    }
    assert_eq!(s.bulkhead.snapshot().in_flight, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_loopback_a_dead_dependency_opens_the_circuit_and_callers_get_a_typed_refusal() {
    // A port nobody listens on: bind, note it, close it.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let s = stack(Duration::from_secs(2), tcp_transport(addr));
    let start = std::time::Instant::now();
    let mut refused = None;
    for _ in 0..10 {
        match s.client.clone().oneshot(get_req("/ok")).await {
            Ok(res) => panic!("nothing listens there, got {}", res.status()),
            Err(e) => {
                if let Some(r) = common::rejected(&e) {
                    refused = Some(r.clone());
                    break;
                }
                assert!(e.source().is_some() || !e.to_string().is_empty());
            }
        }
    }
    let refused = refused.expect("the breaker opened within 10 calls");
    assert_eq!(refused.reason(), Reason::CircuitOpen);
    assert!(refused.retry_after_hint().is_some());
    assert_eq!(s.breaker.state(), ballast_circuit_breaker::State::Open);
    assert!(start.elapsed() < Duration::from_secs(5));
}

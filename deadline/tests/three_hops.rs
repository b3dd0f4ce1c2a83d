//! End to end over real HTTP on loopback: the test's client → service A →
//! service B, both axum servers, A calling B with hyper-util's client.
//! Real time (it is network I/O), so every test is bounded: budgets of
//! 300 ms and an outer 5 s guard.
#![cfg(feature = "http")]

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ballast_deadline::codec::DEFAULT_TIMEOUT_MS_HEADER;
use ballast_deadline::propagate::{
    ReceiveDeadlineLayer, SendConfig, SendDeadline, SendDeadlineLayer,
};
use ballast_deadline::{Deadline, Reason, Rejected};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

type HttpClient = Client<HttpConnector, Body>;

fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A client that sends its deadline, keeping `margin` for the network.
fn sending_client(margin: Duration) -> SendDeadline<HttpClient> {
    let config = SendConfig::builder().margin(margin).build().unwrap();
    SendDeadlineLayer::new(config).layer(http_client())
}

/// What the services saw, for the test to check.
#[derive(Default)]
struct Seen {
    a_calls: AtomicUsize,
    b_calls: AtomicUsize,
    /// Set by a guard in B's handler that is dropped before its work ends.
    b_cancelled: AtomicBool,
    /// A got 504 from B.
    a_saw_b_time_out: AtomicBool,
}

struct Hops {
    a: SocketAddr,
    seen: Arc<Seen>,
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn remaining_ms() -> String {
    Deadline::current().map_or("none".into(), |d| d.remaining().as_millis().to_string())
}

struct CancelFlag(Arc<Seen>);

impl Drop for CancelFlag {
    fn drop(&mut self) {
        self.0.b_cancelled.store(true, Ordering::SeqCst);
    }
}

/// B: `/fast` answers at once, `/slow` works for 2 s; both report the
/// budget B saw.
async fn b_handler(State(seen): State<Arc<Seen>>, uri: Uri) -> Response {
    seen.b_calls.fetch_add(1, Ordering::SeqCst);
    let left = remaining_ms();
    if uri.path() == "/slow" {
        let guard = CancelFlag(seen.clone());
        tokio::time::sleep(Duration::from_secs(2)).await;
        std::mem::forget(guard);
    }
    ([("x-b-remaining-ms", left)], "b done").into_response()
}

#[derive(Clone)]
struct AState {
    seen: Arc<Seen>,
    b: SocketAddr,
    client: SendDeadline<HttpClient>,
}

/// A: calls B on the same path and reports both budgets; a 504 from B
/// becomes A's own 504.
async fn a_handler(State(st): State<AState>, uri: Uri) -> Response {
    st.seen.a_calls.fetch_add(1, Ordering::SeqCst);
    let a_left = remaining_ms();
    let req = Request::get(format!("http://{}{}", st.b, uri.path()))
        .body(Body::empty())
        .unwrap();
    match st.client.oneshot(req).await {
        Ok(res) if res.status() == StatusCode::GATEWAY_TIMEOUT => {
            st.seen.a_saw_b_time_out.store(true, Ordering::SeqCst);
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Ok(res) => {
            let b_left = res.headers()["x-b-remaining-ms"].clone();
            let headers = [
                ("x-a-remaining-ms", a_left.parse().unwrap()),
                ("x-b-remaining-ms", b_left),
            ];
            (headers, "a done").into_response()
        }
        Err(e) if e.downcast_ref::<Rejected>().is_some() => {
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

async fn start() -> Hops {
    let seen = Arc::new(Seen::default());
    let b = Router::new()
        .fallback(get(b_handler))
        .layer(ReceiveDeadlineLayer::default())
        .with_state(seen.clone());
    let b = serve(b).await;
    let a_state = AState {
        seen: seen.clone(),
        b,
        // 50 ms for the trip: B gives up well before A stops waiting.
        client: sending_client(Duration::from_millis(50)),
    };
    let a = Router::new()
        .fallback(get(a_handler))
        .layer(ReceiveDeadlineLayer::default())
        .with_state(a_state);
    let a = serve(a).await;
    Hops { a, seen }
}

/// Runs a test body, failing it if it is not done in 5 s.
async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(5), body)
        .await
        .expect("the test finished within 5 s");
}

fn header_ms(res: &Response<hyper::body::Incoming>, name: &str) -> u64 {
    res.headers()[name].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_300ms_budget_reaches_b_with_less_left_than_a_had() {
    bounded(async {
        let hops = start().await;
        let req = Request::get(format!("http://{}/fast", hops.a))
            .body(Body::empty())
            .unwrap();
        let res = Deadline::after(Duration::from_millis(300))
            .scope(sending_client(Duration::ZERO).oneshot(req))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let a_left = header_ms(&res, "x-a-remaining-ms");
        let b_left = header_ms(&res, "x-b-remaining-ms");
        assert!(a_left <= 300 && a_left > 200, "A had {a_left} ms");
        assert!(
            b_left + 50 <= a_left,
            "B had {b_left} ms, A had {a_left} ms"
        );
        assert!(b_left > 100, "B had {b_left} ms");
        assert_eq!(hops.seen.b_calls.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn b_is_cancelled_when_the_budget_runs_out_and_a_and_the_client_see_deadline_exceeded() {
    bounded(async {
        let hops = start().await;
        let start = Instant::now();
        let req = Request::get(format!("http://{}/slow", hops.a))
            .body(Body::empty())
            .unwrap();
        let res = Deadline::after(Duration::from_millis(300))
            .scope(sending_client(Duration::ZERO).oneshot(req))
            .await
            .unwrap();
        let took = start.elapsed();
        assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(
            took < Duration::from_millis(1000),
            "answered after {took:?}"
        );
        assert!(
            hops.seen.b_cancelled.load(Ordering::SeqCst),
            "B's work was dropped"
        );
        assert!(
            hops.seen.a_saw_b_time_out.load(Ordering::SeqCst),
            "A saw B's 504"
        );
        assert_eq!(hops.seen.b_calls.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn an_expired_request_is_refused_at_the_edge_without_calling_b() {
    bounded(async {
        let hops = start().await;
        // Sent by hand: the budget is already zero on arrival.
        let req = Request::get(format!("http://{}/fast", hops.a))
            .header(DEFAULT_TIMEOUT_MS_HEADER, "0")
            .body(Body::empty())
            .unwrap();
        let res = http_client().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(
            hops.seen.a_calls.load(Ordering::SeqCst),
            0,
            "A's handler never ran"
        );
        assert_eq!(
            hops.seen.b_calls.load(Ordering::SeqCst),
            0,
            "B was never called"
        );

        // A client whose deadline has passed does not even send.
        let deadline = Deadline::after(Duration::from_millis(1));
        tokio::time::sleep(Duration::from_millis(5)).await;
        let req = Request::get(format!("http://{}/fast", hops.a))
            .body(Body::empty())
            .unwrap();
        let err = deadline
            .scope(sending_client(Duration::ZERO).oneshot(req))
            .await
            .unwrap_err();
        let rejected = err
            .downcast_ref::<Rejected>()
            .expect("refused before sending");
        assert_eq!(rejected.reason(), Reason::DeadlineExceeded);
        assert_eq!(hops.seen.a_calls.load(Ordering::SeqCst), 0);
    })
    .await;
}

#[tokio::test]
async fn a_malformed_timeout_header_is_a_400_with_the_reason() {
    bounded(async {
        let hops = start().await;
        let req = Request::get(format!("http://{}/fast", hops.a))
            .header(DEFAULT_TIMEOUT_MS_HEADER, "soon")
            .body(Body::empty())
            .unwrap();
        let res = http_client().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            res.headers()[ballast_deadline::propagate::DEADLINE_ERROR_HEADER],
            "invalid millisecond timeout: not an unsigned integer of ASCII digits"
        );
        assert_eq!(hops.seen.a_calls.load(Ordering::SeqCst), 0);
    })
    .await;
}

//! One deadline across three hops, on loopback: a client gives a request
//! 300 ms; service A spends a little, then calls service B with what is
//! left; B does its work under what A passed on. Each hop prints the
//! budget it sees. The first request fits; in the second B's work takes
//! longer than the budget, so B is cancelled at its deadline and everyone
//! answers 504.
//!
//! Run with `cargo run -p ballast-examples --bin deadline-hops`.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ballast_deadline::Deadline;
use ballast_deadline::propagate::{
    ReceiveDeadlineLayer, SendConfig, SendDeadline, SendDeadlineLayer,
};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

type HttpClient = SendDeadline<Client<HttpConnector, Body>>;

/// A client that sends its remaining budget, keeping `margin` for the trip.
fn client(margin: Duration) -> HttpClient {
    let config = SendConfig::builder()
        .margin(margin)
        .build()
        .expect("a margin under 60 s");
    SendDeadlineLayer::new(config).layer(Client::builder(TokioExecutor::new()).build_http())
}

fn left() -> Duration {
    Deadline::current().map_or(Duration::ZERO, Deadline::remaining)
}

/// Prints when dropped before its work ends: the work was cancelled.
struct Cancelled;

impl Drop for Cancelled {
    fn drop(&mut self) {
        println!("    B  work cancelled at its deadline");
    }
}

/// B: works for the milliseconds in its path (`/work/400`).
async fn service_b(uri: Uri) -> Response {
    println!("    B  received, {:>3} ms left", left().as_millis());
    let work: u64 = uri
        .path()
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let guard = Cancelled;
    tokio::time::sleep(Duration::from_millis(work)).await;
    std::mem::forget(guard);
    println!(
        "    B  done after {work} ms, {:>3} ms left",
        left().as_millis()
    );
    "b done".into_response()
}

/// A: 30 ms of its own work, then B with the rest of the budget.
async fn service_a(State((b, client)): State<(SocketAddr, HttpClient)>, uri: Uri) -> Response {
    println!("  A    received, {:>3} ms left", left().as_millis());
    tokio::time::sleep(Duration::from_millis(30)).await;
    println!("  A    calling B, {:>3} ms left", left().as_millis());
    let req = Request::get(format!("http://{b}{}", uri.path()))
        .body(Body::empty())
        .expect("a valid request");
    match client.oneshot(req).await {
        Ok(res) => {
            println!("  A    B answered {}", res.status());
            res.status().into_response()
        }
        Err(e) => {
            println!("  A    B not called: {e}");
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

#[tokio::main]
async fn main() {
    let b = serve(
        Router::new()
            .fallback(get(service_b))
            .layer(ReceiveDeadlineLayer::default()),
    )
    .await;
    let a = serve(
        Router::new()
            .fallback(get(service_a))
            .layer(ReceiveDeadlineLayer::default())
            .with_state((b, client(Duration::from_millis(20)))),
    )
    .await;
    println!("service A on {a}, service B on {b}; A keeps a 20 ms margin for the trip to B\n");

    for (what, work) in [("B works 50 ms", 50), ("B works 2000 ms", 2000)] {
        println!("client: 300 ms budget; {what}");
        let start = Instant::now();
        let req = Request::get(format!("http://{a}/work/{work}"))
            .body(Body::empty())
            .expect("a valid request");
        let res = Deadline::after(Duration::from_millis(300))
            .scope(client(Duration::ZERO).oneshot(req))
            .await;
        match res {
            Ok(res) => println!("client: {} after {:?}\n", res.status(), start.elapsed()),
            Err(e) => println!("client: failed after {:?}: {e}\n", start.elapsed()),
        }
    }
}

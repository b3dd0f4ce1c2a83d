//! A per-client rate limit on an axum server, on loopback: each client
//! (named by its `x-client-id` header) may send 3 requests back to back,
//! then one every 2 seconds. A client in the same program sends a burst of
//! 5 for alice and 2 for bob, and prints each status with the rate-limit
//! fields; alice's last two get 429 with `Retry-After`, bob is untouched
//! by alice's burst. Then alice waits what `Retry-After` said and is
//! admitted again.
//!
//! Run with `cargo run -p ballast-examples --bin ratelimit-server`.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use ballast_ratelimit::http::{HttpConfig, key};
use ballast_ratelimit::{Config, KeyedRateLimiter};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::time::Duration;

const CLIENT_ID: HeaderName = HeaderName::from_static("x-client-id");

/// The server: a hello handler behind a limit per `x-client-id`.
async fn serve(limiter: &KeyedRateLimiter<Option<axum::http::HeaderValue>>) -> SocketAddr {
    let config = HttpConfig::builder()
        .policy_name("per-client")
        .build()
        .expect("a valid policy name");
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .layer(limiter.http_layer(key::header(CLIENT_ID), config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Sends one request as `client` and prints what came back; returns the
/// `Retry-After` seconds of a 429.
async fn send(http: &Client<HttpConnector, Body>, addr: SocketAddr, client: &str) -> Option<u64> {
    let req = Request::get(format!("http://{addr}/"))
        .header(CLIENT_ID, client)
        .body(Body::empty())
        .expect("a valid request");
    let res = http.request(req).await.expect("the server answers");
    let field = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    println!(
        "  {client:<5} {}  ratelimit: {}",
        res.status(),
        field("ratelimit")
    );
    if res.status() != 429 {
        return None;
    }
    println!("          retry-after: {}", field("retry-after"));
    println!("          ratelimit-policy: {}", field("ratelimit-policy"));
    field("retry-after").parse().ok()
}

#[tokio::main]
async fn main() {
    // 3 back to back, then one every 2 s: a burst window of 6 s.
    let config = Config::builder()
        .name("per-client")
        .rate(1, Duration::from_secs(2))
        .burst(3)
        .build()
        .expect("a valid limit");
    let limiter = KeyedRateLimiter::new(config);
    let addr = serve(&limiter).await;
    let http = Client::builder(TokioExecutor::new()).build_http();
    println!("server on {addr}: 3 requests at once per client, then one every 2 s\n");

    println!("a burst of 5 from alice and 2 from bob:");
    let mut retry_after = None;
    for client in ["alice", "alice", "bob", "alice", "alice", "bob", "alice"] {
        if let Some(secs) = send(&http, addr, client).await {
            retry_after = Some(secs);
        }
    }
    let wait = retry_after.expect("alice went over her limit");
    println!("\nalice waits the {wait} s that retry-after said:");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    send(&http, addr, "alice").await;

    let m = limiter.metrics();
    println!(
        "\nlimiter: {} admitted, {} refused, {} clients tracked",
        m.admitted,
        m.rejected,
        limiter.len()
    );
}

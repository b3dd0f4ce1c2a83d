//! The HTTP layer on the limit shared through Redis, over real axum
//! servers on loopback and a real Redis (`BALLAST_REDIS_URL`): two
//! servers answer one shared limit with 429, `Retry-After` and the IETF
//! fields; a Redis that cannot decide leaves the answer to the fallback.
//!
//! Real time (Redis's clock cannot be paused): one cell an hour, so the
//! figures, whole seconds rounded up, read the same however long the test
//! takes.

#[macro_use]
#[path = "common/redis.rs"]
mod support;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use ballast_ratelimit::http::HttpConfig;
use ballast_ratelimit::redis::{Fallback, RedisConfig, RedisRateLimiter};
use http::header::RETRY_AFTER;
use http::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::time::Duration;
use support::unique_prefix;

const HOUR: Duration = Duration::from_secs(3600);

/// Serves an app limited by `limiter`, keyed by the `x-client-id` header.
async fn serve(limiter: &RedisRateLimiter) -> SocketAddr {
    let by_client = |req: &Request<Body>| {
        let id = req.headers().get("x-client-id");
        let id = id.and_then(|v| v.to_str().ok()).unwrap_or("anonymous");
        id.to_owned()
    };
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .layer(limiter.http_layer(by_client, HttpConfig::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn get_as(
    client: &Client<HttpConnector, Body>,
    addr: SocketAddr,
    id: &str,
) -> Response<hyper::body::Incoming> {
    let req = Request::get(format!("http://{addr}/"))
        .header("x-client-id", id)
        .body(Body::empty())
        .unwrap();
    client.request(req).await.unwrap()
}

fn header<'a>(res: &'a Response<hyper::body::Incoming>, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_answer_one_shared_limit_with_429_and_ietf_fields() {
    let url = redis_or_skip!("two_servers_answer_one_shared_limit_with_429_and_ietf_fields");
    // Burst 3, then one an hour; each server has its own connection.
    let config = || {
        RedisConfig::builder()
            .name("edge")
            .rate(1, HOUR)
            .burst(3)
            .key_prefix(unique_prefix("http_redis"))
            .timeout(Duration::from_secs(2))
            .fallback(Fallback::FailClosed)
    };
    let config = config().build().unwrap();
    let a = RedisRateLimiter::connect(url.as_str(), config.clone()).unwrap();
    let b = RedisRateLimiter::connect(url.as_str(), config).unwrap();
    let (addr_a, addr_b) = (serve(&a).await, serve(&b).await);
    let client = client();

    // Alice's three cells, taken through both servers, counted once; `t`
    // is the time until the used cells have refilled, an hour each.
    for (addr, left) in [(addr_a, 2), (addr_b, 1), (addr_a, 0)] {
        let ok = get_as(&client, addr, "alice").await;
        assert_eq!(ok.status(), 200);
        assert_eq!(
            header(&ok, "ratelimit-policy"),
            Some("\"default\";q=3;w=10800")
        );
        let state = format!("\"default\";r={left};t={}", (3 - left) * 3600);
        assert_eq!(header(&ok, "ratelimit"), Some(state.as_str()));
        assert_eq!(header(&ok, "retry-after"), None);
    }
    // Spent on both servers: 429 with the exact wait (one interval).
    for addr in [addr_b, addr_a] {
        let refused = get_as(&client, addr, "alice").await;
        assert_eq!(refused.status(), 429);
        assert_eq!(header(&refused, RETRY_AFTER.as_str()), Some("3600"));
        assert_eq!(
            header(&refused, "ratelimit"),
            Some("\"default\";r=0;t=10800")
        );
        assert_eq!(
            header(&refused, "ratelimit-policy"),
            Some("\"default\";q=3;w=10800")
        );
    }
    // Another client has its own shared limit.
    let bob = get_as(&client, addr_b, "bob").await;
    assert_eq!(bob.status(), 200);
    assert_eq!(header(&bob, "ratelimit"), Some("\"default\";r=2;t=3600"));
    // Redis decided every check, on both servers.
    assert_eq!(a.metrics().redis_decisions + b.metrics().redis_decisions, 6);
    assert_eq!(
        a.metrics().fallback_decisions + b.metrics().fallback_decisions,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_fail_closed_fallback_answers_429_without_fields() {
    // Nothing listens on port 1 of loopback: every check fails at once
    // and the fallback decides. No Redis needed.
    let config = RedisConfig::builder()
        .name("down")
        .rate(10, Duration::from_secs(1))
        .timeout(Duration::from_secs(2))
        .fallback(Fallback::FailClosed)
        .build()
        .unwrap();
    let limiter = RedisRateLimiter::connect("redis://127.0.0.1:1/", config).unwrap();
    let addr = serve(&limiter).await;
    let refused = get_as(&client(), addr, "alice").await;
    assert_eq!(refused.status(), 429);
    // No usage is known when Redis did not decide: no rate-limit state.
    assert_eq!(header(&refused, "ratelimit"), None);
    assert!(limiter.metrics().fallback_decisions >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_fail_open_fallback_serves_without_fields() {
    let config = RedisConfig::builder()
        .name("down-open")
        .rate(10, Duration::from_secs(1))
        .timeout(Duration::from_secs(2))
        .fallback(Fallback::FailOpen)
        .build()
        .unwrap();
    let limiter = RedisRateLimiter::connect("redis://127.0.0.1:1/", config).unwrap();
    let addr = serve(&limiter).await;
    let ok = get_as(&client(), addr, "alice").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(header(&ok, "ratelimit"), None);
}

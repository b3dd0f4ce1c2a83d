//! The HTTP layer in front of real axum services: 429 with `Retry-After`
//! and the rate-limit fields with exact values on tokio's paused clock,
//! admitted responses with the quota that remains, independent keys, wait
//! mode, cancellation; and over loopback TCP, keyed by the peer's IP from
//! axum's connect info.
#![cfg(feature = "http")]

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use ballast_ratelimit::http::{HeaderStyle, HttpConfig, key};
use ballast_ratelimit::{Config, KeyedRateLimiter, RateLimiter, Rejected};
use futures::FutureExt;
use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderName, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::advance;
use tower::ServiceExt;

const CLIENT: HeaderName = HeaderName::from_static("x-client-id");

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn app() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
}

fn request(client: Option<&str>) -> Request<Body> {
    let mut req = Request::get("/");
    if let Some(id) = client {
        req = req.header(CLIENT, id);
    }
    req.body(Body::empty()).unwrap()
}

async fn send(router: &Router, client: Option<&str>) -> Response<Body> {
    router.clone().oneshot(request(client)).await.unwrap()
}

/// The status, `Retry-After` and `RateLimit` of a response, for asserts.
fn seen(res: &Response<Body>) -> (u16, Option<&str>, Option<&str>) {
    let h = res.headers();
    let text = |name| h.get(name).map(|v: &http::HeaderValue| v.to_str().unwrap());
    (
        res.status().as_u16(),
        text(RETRY_AFTER),
        text(key_ratelimit()),
    )
}

fn key_ratelimit() -> HeaderName {
    HeaderName::from_static("ratelimit")
}

/// Three a second with a burst of three: one request every 1s sustained.
fn three_per_3s() -> Config {
    Config::builder()
        .rate(3, Duration::from_secs(3))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn refusal_is_429_with_exact_retry_after_and_ietf_fields() {
    let limiter = RateLimiter::new(three_per_3s());
    let router = app().layer(limiter.http_layer(HttpConfig::default()));

    // The burst: each admitted response says what is left and when the
    // whole burst is back.
    for (r, t) in [(2, 1), (1, 2), (0, 3)] {
        let res = send(&router, None).await;
        let state = format!("\"default\";r={r};t={t}");
        assert_eq!(seen(&res), (200, None, Some(state.as_str())));
        assert_eq!(res.headers()["ratelimit-policy"], "\"default\";q=3;w=3");
    }
    let res = send(&router, None).await;
    assert_eq!(seen(&res), (429, Some("1"), Some("\"default\";r=0;t=3")));
    assert_eq!(res.headers()["ratelimit-policy"], "\"default\";q=3;w=3");

    // 400ms later the next cell is 600ms away: Retry-After rounds up to 1,
    // the reset (2.6s) to 3.
    advance(ms(400)).await;
    let res = send(&router, None).await;
    assert_eq!(seen(&res), (429, Some("1"), Some("\"default\";r=0;t=3")));
    advance(ms(600)).await;
    let res = send(&router, None).await;
    assert_eq!(seen(&res), (200, None, Some("\"default\";r=0;t=3")));
    assert_eq!(limiter.metrics().admitted, 4);
    assert_eq!(limiter.metrics().rejected, 2);
}

#[tokio::test(start_paused = true)]
async fn each_client_header_has_its_own_limit() {
    let limiter = KeyedRateLimiter::new(
        Config::builder()
            .rate(1, Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let router = app().layer(limiter.http_layer(key::header(CLIENT), HttpConfig::default()));

    assert_eq!(send(&router, Some("alice")).await.status(), 200);
    let refused = send(&router, Some("alice")).await;
    assert_eq!(
        seen(&refused),
        (429, Some("60"), Some("\"default\";r=0;t=60"))
    );
    // Bob's limit is untouched by Alice's.
    let bob = send(&router, Some("bob")).await;
    assert_eq!(seen(&bob), (200, None, Some("\"default\";r=0;t=60")));
    // Requests without the header share one limit of their own.
    assert_eq!(send(&router, None).await.status(), 200);
    assert_eq!(send(&router, None).await.status(), 429);
    assert_eq!(limiter.len(), 3);

    advance(Duration::from_secs(59)).await;
    let refused = send(&router, Some("alice")).await;
    assert_eq!(
        seen(&refused),
        (429, Some("1"), Some("\"default\";r=0;t=1"))
    );
    advance(Duration::from_secs(1)).await;
    assert_eq!(send(&router, Some("alice")).await.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn legacy_style_writes_the_separate_fields() {
    let limiter = RateLimiter::new(three_per_3s());
    let config = HttpConfig::builder()
        .style(HeaderStyle::Legacy)
        .build()
        .unwrap();
    let router = app().layer(limiter.http_layer(config));
    let res = send(&router, None).await;
    let fields = |h: &HeaderMap| {
        ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"]
            .map(|n| h[n].to_str().unwrap().to_owned())
    };
    assert_eq!(fields(res.headers()), ["3", "2", "1"]);
    assert!(!res.headers().contains_key("ratelimit"));
    assert!(!res.headers().contains_key("ratelimit-policy"));
    send(&router, None).await;
    send(&router, None).await;
    let res = send(&router, None).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(fields(res.headers()), ["3", "0", "3"]);
    assert_eq!(res.headers()[RETRY_AFTER], "1");
}

#[tokio::test(start_paused = true)]
async fn admitted_responses_stay_untouched_when_not_configured() {
    let limiter = RateLimiter::new(three_per_3s());
    let config = HttpConfig::builder()
        .policy_name("api")
        .on_admitted(false)
        .build()
        .unwrap();
    let router = app().layer(limiter.http_layer(config));
    for _ in 0..3 {
        let res = send(&router, None).await;
        assert_eq!(seen(&res), (200, None, None));
        assert!(!res.headers().contains_key("ratelimit-policy"));
    }
    // A refusal still says everything.
    let res = send(&router, None).await;
    assert_eq!(seen(&res), (429, Some("1"), Some("\"api\";r=0;t=3")));
    assert_eq!(res.headers()["ratelimit-policy"], "\"api\";q=3;w=3");
}

#[tokio::test(start_paused = true)]
async fn a_body_function_writes_the_429_body() {
    let limiter = RateLimiter::new(
        Config::builder()
            .rate(1, Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    let layer = limiter
        .http_layer(HttpConfig::default())
        .body(|r: &Rejected| Body::from(format!("{{\"error\":\"{r}\"}}")));
    let router = app().layer(layer);
    let ok = send(&router, None).await;
    let ok = axum::body::to_bytes(ok.into_body(), 1024).await.unwrap();
    assert_eq!(ok, "hello");
    let refused = send(&router, None).await;
    assert_eq!(refused.status(), 429);
    let body = axum::body::to_bytes(refused.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(body, "{\"error\":\"rate limited; retry after 2s\"}");
}

#[tokio::test(start_paused = true)]
async fn a_fixed_window_reports_its_limit_and_window_end() {
    let limiter = RateLimiter::new(
        Config::builder()
            .fixed_window(2, Duration::from_secs(10))
            .build()
            .unwrap(),
    );
    let router = app().layer(limiter.http_layer(HttpConfig::default()));
    advance(Duration::from_millis(3500)).await;
    let res = send(&router, None).await;
    assert_eq!(seen(&res), (200, None, Some("\"default\";r=1;t=7")));
    assert_eq!(res.headers()["ratelimit-policy"], "\"default\";q=2;w=10");
    send(&router, None).await;
    let res = send(&router, None).await;
    assert_eq!(seen(&res), (429, Some("7"), Some("\"default\";r=0;t=7")));
}

#[tokio::test(start_paused = true)]
async fn wait_mode_delays_the_request_instead_of_refusing_it() {
    let limiter = RateLimiter::new(
        Config::builder()
            .rate(1, Duration::from_secs(1))
            .max_wait(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    let router = app().layer(limiter.http_layer(HttpConfig::default()));
    let start = tokio::time::Instant::now();
    assert_eq!(send(&router, None).await.status(), 200);
    let res = send(&router, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    // A third reserves the cell due at 2s and waits; a fourth would wait
    // past the maximum (until 3s): refused at once, due in 2s.
    let mut third = Box::pin(router.clone().oneshot(request(None)));
    assert!((&mut third).now_or_never().is_none());
    let res = send(&router, None).await;
    assert_eq!(seen(&res), (429, Some("2"), Some("\"default\";r=0;t=2")));
    assert_eq!(third.await.unwrap().status(), 200);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiting_request_stops_counting_as_waiting() {
    let limiter = RateLimiter::new(
        Config::builder()
            .rate(1, Duration::from_secs(1))
            .max_wait(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    let router = app().layer(limiter.http_layer(HttpConfig::default()));
    send(&router, None).await;
    let mut waiting = Box::pin(router.clone().oneshot(request(None)));
    assert!((&mut waiting).now_or_never().is_none());
    assert_eq!(limiter.metrics().waiting, 1);
    drop(waiting);
    assert_eq!(limiter.metrics().waiting, 0);
}

/// Serves `router` on loopback with each connection's peer address.
async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let make = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, make).await.unwrap() });
    addr
}

#[tokio::test]
async fn over_tcp_a_peer_ip_key_limits_the_connecting_address() {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    // One an hour per IP: real time moves, but the figures are whole
    // seconds rounded up, so they read 3600 however long the test takes.
    let limiter = KeyedRateLimiter::new(
        Config::builder()
            .rate(1, Duration::from_secs(3600))
            .build()
            .unwrap(),
    );
    let by_ip = key::extension(|peer: &ConnectInfo<SocketAddr>| peer.0.ip());
    let addr = serve(app().layer(limiter.http_layer(by_ip, HttpConfig::default()))).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let get = || {
        let req = Request::get(format!("http://{addr}/"))
            .body(Body::empty())
            .unwrap();
        client.request(req)
    };

    let ok = get().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["ratelimit"], "\"default\";r=0;t=3600");
    let refused = get().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()[RETRY_AFTER], "3600");
    assert_eq!(refused.headers()["ratelimit"], "\"default\";r=0;t=3600");
    assert_eq!(
        refused.headers()["ratelimit-policy"],
        "\"default\";q=1;w=3600"
    );
    // The key was the loopback address, from the real connection.
    assert_eq!(limiter.len(), 1);
    assert!(limiter.check(&Some("127.0.0.1".parse().unwrap())).is_err());
}

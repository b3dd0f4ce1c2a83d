//! A real axum server on loopback answering each refusal as the table in
//! `ballast::answer` says: server-side refusals through
//! `ballast::axum::handle_error` (429 for a rate limit per client, 503 for
//! a full bulkhead, 504 for the server's deadline, 500 for anything
//! else), and refusals of its own calls to a dependency as client-side
//! (503 with `Retry-After`, never a 429 that blames the caller), both
//! from a handler and from `handle_dependency_error` on a proxy route.
//!
//! Real sockets, so the real clock: every wait is bounded and short.
#![cfg(feature = "axum")]

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use ballast::axum::{error_response, handle_dependency_error, handle_error};
use ballast::prelude::*;
use ballast::{bulkhead, deadline, ratelimit};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tower::{ServiceBuilder, ServiceExt, service_fn};

const MINUTE: Duration = Duration::from_secs(60);

fn one_a_minute() -> ratelimit::Config {
    ratelimit::Config::builder()
        .rate(1, MINUTE)
        .build()
        .expect("a valid limit")
}

/// What the routes share: the client stack's limiter toward the
/// dependency, and a gate that holds `/busy` handlers.
#[derive(Clone)]
struct App {
    to_dependency: RateLimiter,
    gate: Arc<Gate>,
}

/// Holds `/busy` handlers: each says it entered, then waits to be let go.
#[derive(Default)]
struct Gate {
    entered: Notify,
    release: Notify,
}

/// The dependency call: through our client-side rate limit toward it.
async fn call_dependency(app: &App) -> Result<&'static str, BoxError> {
    ServiceBuilder::new()
        .with_rate_limiter(&app.to_dependency)
        .service(service_fn(|()| async {
            Ok::<_, std::io::Error>("stock: 3")
        }))
        .oneshot(())
        .await
}

async fn serve() -> (SocketAddr, Arc<Gate>) {
    let per_client = KeyedRateLimiter::new(one_a_minute());
    let one_at_a_time = Bulkhead::new(
        bulkhead::Config::builder()
            .max_concurrent_calls(1)
            .build()
            .expect("valid"),
    );
    let app = App {
        to_dependency: RateLimiter::new(one_a_minute()),
        gate: Arc::new(Gate::default()),
    };
    let gate = app.gate.clone();
    let proxy_limit = RateLimiter::new(one_a_minute());

    let router = Router::new()
        .route(
            "/limited",
            get(|| async { "ok" }).layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(handle_error))
                    .with_keyed_rate_limiter(&per_client, |req: &Request<Body>| {
                        req.headers()
                            .get("x-client")
                            .map(|v| v.as_bytes().to_vec())
                            .unwrap_or_default()
                    }),
            ),
        )
        .route(
            "/busy",
            get(|State(app): State<App>| async move {
                app.gate.entered.notify_one();
                app.gate.release.notified().await;
                "done"
            })
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(handle_error))
                    .with_bulkhead(&one_at_a_time),
            ),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            })
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(handle_error))
                    .with_deadline(
                        deadline::Config::with_timeout(Duration::from_millis(50)).expect("valid"),
                    ),
            ),
        )
        .route(
            "/stock",
            get(|State(app): State<App>| async move {
                match call_dependency(&app).await {
                    Ok(body) => Response::new(Body::from(body)),
                    Err(err) => error_response(&err, Side::Client),
                }
            }),
        )
        .route_service(
            "/proxy",
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(handle_dependency_error))
                .with_rate_limiter(&proxy_limit)
                .service(service_fn(|_: Request<Body>| async {
                    Ok::<_, std::io::Error>(Response::new(Body::from("proxied")))
                })),
        )
        .route_service(
            "/broken",
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(handle_error))
                .service(service_fn(|_: Request<Body>| async {
                    Err::<Response, BoxError>(std::io::Error::other("disk on fire").into())
                })),
        )
        .with_state(app);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, gate)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn get_path(addr: SocketAddr, path: &str, client: &str) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", "localhost")
        .header("x-client", client)
        .body(String::new())
        .expect("a request");
    let res = tokio::time::timeout(Duration::from_secs(5), send.send_request(req))
        .await
        .expect("answered within 5 s")
        .expect("a response");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("a body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn retry_after(a: &Answer) -> Option<u64> {
    a.headers.get("retry-after")?.to_str().ok()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_per_client_is_a_429_with_retry_after() {
    let (addr, _) = serve().await;
    assert_eq!(
        get_path(addr, "/limited", "alice").await.status,
        StatusCode::OK
    );
    let refused = get_path(addr, "/limited", "alice").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&refused).expect("a Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(refused.body.starts_with("rate limited"), "{}", refused.body);
    // Another client has its own limit.
    assert_eq!(
        get_path(addr, "/limited", "bob").await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_bulkhead_is_a_503() {
    let (addr, gate) = serve().await;
    let first = tokio::spawn(async move { get_path(addr, "/busy", "a").await });
    // Once the first request holds the permit (its handler entered), a
    // second is refused.
    tokio::time::timeout(Duration::from_secs(5), gate.entered.notified())
        .await
        .expect("the first request entered its handler");
    let refused = get_path(addr, "/busy", "b").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        refused.body.starts_with("bulkhead full"),
        "{}",
        refused.body
    );
    assert_eq!(
        retry_after(&refused),
        None,
        "a full bulkhead cannot say when"
    );
    gate.release.notify_one();
    assert_eq!(first.await.expect("joined").status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_deadline_is_a_504() {
    let (addr, _) = serve().await;
    let a = get_path(addr, "/slow", "a").await;
    assert_eq!(a.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(a.body.starts_with("deadline exceeded"), "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_rate_limit_toward_a_dependency_is_a_503_not_a_429() {
    let (addr, _) = serve().await;
    let ok = get_path(addr, "/stock", "a").await;
    assert_eq!((ok.status, ok.body.as_str()), (StatusCode::OK, "stock: 3"));
    let refused = get_path(addr, "/stock", "a").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after(&refused).is_some_and(|s| (1..=60).contains(&s)));

    // The same through a proxy route's HandleErrorLayer.
    assert_eq!(get_path(addr, "/proxy", "a").await.status, StatusCode::OK);
    let refused = get_path(addr, "/proxy", "a").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after(&refused).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_that_is_no_refusal_is_a_500() {
    let (addr, _) = serve().await;
    let a = get_path(addr, "/broken", "a").await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!a.body.contains("disk"), "internal errors stay inside");
}

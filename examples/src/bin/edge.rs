//! An edge service with the `ballast` facade only: an axum server with a
//! server-side stack (a rate limit per client, load shedding by priority,
//! the deadline each request brings), whose handlers call two
//! dependencies, `pricing` and `stock` (in-process axum servers on
//! loopback), each through a client-side stack (deadline, retry, circuit
//! breaker, bulkhead, deadline propagation).
//!
//! It drives requests that meet each refusal, prints what happened and the
//! status each got, checks it, and exits 0 when every check holds:
//!
//! | what happens | refused by | side | status |
//! |---|---|---|---|
//! | a client sends more than its share | the rate limit per client | server | 429 + `Retry-After` |
//! | low-priority work while the server is busy | the load shedder | server | 503 |
//! | the caller's deadline passes while we wait on `stock` | the deadline | server or client | 504 |
//! | more concurrent `pricing` calls than its bulkhead holds | pricing's bulkhead | client | 503 |
//! | `pricing` keeps failing | pricing's breaker, once open | client | 502 while failing, then 503 + `Retry-After` |
//!
//! A refusal on the client side (our own call to a dependency) is never a
//! 429: the caller did nothing wrong.
//!
//! Run with `cargo run -p ballast-examples --bin edge`.

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::get;
use ballast::axum::handle_error;
use ballast::deadline::propagate::{ReceiveConfig, SendConfig};
use ballast::prelude::*;
use ballast::{bulkhead, circuit_breaker, deadline, ratelimit, retry};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// How a dependency behaves, set by the scenarios.
#[derive(Default)]
struct Knobs {
    /// Milliseconds each answer takes.
    delay_ms: AtomicU64,
    /// Answer 500 to everything.
    broken: AtomicBool,
}

/// Starts a dependency answering `GET /` with `body`, as `knobs` say.
async fn dependency(body: &'static str, knobs: Arc<Knobs>) -> SocketAddr {
    let app = Router::new().route(
        "/",
        get(move || async move {
            // Relaxed: a setting read once per request, ordered by the
            // request itself (set before the scenario sends).
            let delay = knobs.delay_ms.load(Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            if knobs.broken.load(Ordering::Relaxed) {
                (StatusCode::INTERNAL_SERVER_ERROR, "down")
            } else {
                (StatusCode::OK, body)
            }
        }),
    );
    listen(app).await
}

async fn listen(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A dependency answered with an error status.
#[derive(Debug)]
struct Failed(StatusCode);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dependency answered {}", self.0)
    }
}

impl std::error::Error for Failed {}

/// A client of one dependency: its body as text, a 5xx as an error.
type Dependency = BoxCloneSyncService<http::Request<String>, String, BoxError>;

/// The policies in front of one dependency, shared by every request.
struct Guard {
    breaker: Breaker,
    bulkhead: Bulkhead,
    retry: retry::Policy<retry::RetryErrors>,
}

impl Guard {
    fn new(name: &'static str, max_concurrent: u32) -> Result<Self, BoxError> {
        let breaker = Breaker::new(
            circuit_breaker::Config::builder()
                .name(name)
                .sliding_window(circuit_breaker::SlidingWindow::count(10))
                .minimum_calls(4)
                .failure_rate_threshold(50.0)
                .wait_in_open(Duration::from_secs(10))
                .build()?,
        );
        let bulkhead = Bulkhead::new(
            bulkhead::Config::builder()
                .name(name)
                .max_concurrent_calls(max_concurrent)
                .build()?,
        );
        let config = retry::Config::builder()
            .max_attempts(2)
            .backoff(retry::Backoff::constant(Duration::from_millis(10)).build()?)
            .build()?;
        let retry = retry::Policy::new(config, retry::RetryErrors);
        Ok(Self {
            breaker,
            bulkhead,
            retry,
        })
    }

    /// The client-side stack, outermost first: one deadline for the call
    /// (1 s, or less if our caller has less), retry within it, the breaker
    /// seeing every attempt, the bulkhead capping attempts in flight, and
    /// the time left sent along.
    fn client(&self, http: Client<HttpConnector, String>) -> Result<Dependency, BoxError> {
        let send = service_fn(move |req: http::Request<String>| {
            let http = http.clone();
            async move {
                let res = http.request(req).await?;
                let status = res.status();
                let body = axum::body::to_bytes(Body::new(res.into_body()), 64 * 1024).await?;
                if status.is_server_error() {
                    return Err(BoxError::from(Failed(status)));
                }
                Ok(String::from_utf8_lossy(&body).into_owned())
            }
        });
        let stack = ServiceBuilder::new()
            .with_deadline(deadline::Config::with_timeout(Duration::from_secs(1))?)
            .with_retry_policy(&self.retry)
            .with_circuit_breaker(&self.breaker)
            .with_bulkhead(&self.bulkhead)
            .with_sent_deadline(SendConfig::default())
            .service(send);
        Ok(BoxCloneSyncService::new(stack))
    }
}

/// What the handlers share.
#[derive(Clone)]
struct Edge {
    pricing: (Dependency, SocketAddr),
    stock: (Dependency, SocketAddr),
}

async fn ask(dep: &(Dependency, SocketAddr)) -> Result<String, BoxError> {
    let req = http::Request::get(format!("http://{}/", dep.1))
        .body(String::new())
        .expect("a valid request");
    dep.0.clone().oneshot(req).await
}

/// A failed dependency call, answered as our caller should see it: a
/// refusal by our own client-side layers as refused on the client side
/// (503 or 504, never 429), the dependency's own failure as 502.
fn failed(err: &BoxError) -> Response<Body> {
    match Rejected::find(err) {
        Some(rejected) => rejected.to_http_response(Side::Client),
        None => {
            let mut res = Response::new(Body::from(format!("{err}\n")));
            *res.status_mut() = StatusCode::BAD_GATEWAY;
            res
        }
    }
}

/// `GET /quote`: the price and the stock of an item.
async fn quote(State(edge): State<Edge>) -> Response<Body> {
    let (price, stock) = tokio::join!(ask(&edge.pricing), ask(&edge.stock));
    match (price, stock) {
        (Ok(price), Ok(stock)) => Response::new(Body::from(format!("{price}, {stock}"))),
        (Err(err), _) | (_, Err(err)) => failed(&err),
    }
}

/// `GET /stock`: the stock alone.
async fn stock(State(edge): State<Edge>) -> Response<Body> {
    match ask(&edge.stock).await {
        Ok(stock) => Response::new(Body::from(stock)),
        Err(err) => failed(&err),
    }
}

fn header(req: &Request, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The edge server. Its server-side stack, outermost first: every refusal
/// answered with its status (`handle_error`), 3 requests at once per
/// client then one a second, load shed lowest priority first once 10
/// are in flight (low priority only while fewer than 6 are), and the
/// deadline each request brings (`x-request-timeout-ms`).
async fn edge(edge: Edge) -> Result<SocketAddr, BoxError> {
    let per_client = KeyedRateLimiter::new(
        ratelimit::Config::builder()
            .name("per-client")
            .rate(1, Duration::from_secs(1))
            .burst(3)
            .build()?,
    );
    let shedder = LoadShedder::new(
        bulkhead::shed::ShedConfig::builder()
            .max_in_flight(10)
            .build()?,
    );
    let server_side = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(handle_error))
        .with_keyed_rate_limiter(&per_client, |req: &Request| header(req, "x-client"))
        .with_load_shedder(&shedder, |req: &Request| {
            match header(req, "x-priority").as_str() {
                "low" => Priority::Low,
                _ => Priority::Normal,
            }
        })
        .with_received_deadline(ReceiveConfig::default());
    let app = Router::new()
        .route("/quote", get(quote))
        .route("/stock", get(stock))
        .with_state(edge)
        .layer(server_side);
    Ok(listen(app).await)
}

/// What a caller of the edge got.
struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Got {
    fn retry_after(&self) -> Option<&str> {
        self.headers.get("retry-after")?.to_str().ok()
    }
}

/// Sends `GET path` to the edge as `client`, with `extra` headers.
async fn call(
    http: &Client<HttpConnector, String>,
    edge: SocketAddr,
    path: &str,
    client: &str,
    extra: &[(&str, &str)],
) -> Got {
    let mut req = http::Request::get(format!("http://{edge}{path}")).header("x-client", client);
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    let res = http
        .request(req.body(String::new()).expect("a valid request"))
        .await
        .expect("the edge answers");
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(Body::new(res.into_body()), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim_end().to_owned())
        .unwrap_or_default();
    Got {
        status,
        headers,
        body,
    }
}

/// Prints a request's outcome and whether it is what the scenario expects.
fn report(checks: &mut Vec<String>, what: &str, got: &Got, want: StatusCode) {
    let retry_after = got
        .retry_after()
        .map(|s| format!(" (retry-after: {s}s)"))
        .unwrap_or_default();
    let mark = if got.status == want { "ok " } else { "BAD" };
    println!(
        "  {mark} {what:<44} -> {}{retry_after}  \"{}\"",
        got.status, got.body
    );
    if got.status != want {
        checks.push(format!("{what}: got {}, wanted {want}", got.status));
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let http: Client<HttpConnector, String> = Client::builder(TokioExecutor::new()).build_http();
    let pricing_knobs = Arc::new(Knobs::default());
    let stock_knobs = Arc::new(Knobs::default());
    let pricing_addr = dependency("price 10", pricing_knobs.clone()).await;
    let stock_addr = dependency("3 in stock", stock_knobs.clone()).await;
    let pricing = Guard::new("pricing", 2)?;
    let stock = Guard::new("stock", 16)?;
    let addr = edge(Edge {
        pricing: (pricing.client(http.clone())?, pricing_addr),
        stock: (stock.client(http.clone())?, stock_addr),
    })
    .await?;
    println!("edge on {addr}; pricing on {pricing_addr}, stock on {stock_addr}\n");
    let mut checks = Vec::new();
    let slow = |knobs: &Knobs, ms| knobs.delay_ms.store(ms, Ordering::Relaxed);

    println!("a plain request:");
    let got = call(&http, addr, "/quote", "alice", &[]).await;
    report(&mut checks, "alice asks for a quote", &got, StatusCode::OK);

    println!("\na client over its share (3 at once, then 1 a second), server side:");
    for i in 1..=4 {
        let got = call(&http, addr, "/stock", "greedy", &[]).await;
        let want = if i <= 3 {
            StatusCode::OK
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        report(&mut checks, &format!("greedy, request {i}"), &got, want);
        if i == 4 && got.retry_after().is_none() {
            checks.push("the 429 has no Retry-After".into());
        }
    }

    println!("\nload shedding while 6 requests wait on a slow stock, server side:");
    slow(&stock_knobs, 300);
    let fillers: Vec<_> = (0..6)
        .map(|i| {
            let http = http.clone();
            tokio::spawn(
                async move { call(&http, addr, "/stock", &format!("busy-{i}"), &[]).await },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got = call(&http, addr, "/stock", "batch", &[("x-priority", "low")]).await;
    report(
        &mut checks,
        "a low-priority batch job",
        &got,
        StatusCode::SERVICE_UNAVAILABLE,
    );
    let got = call(&http, addr, "/stock", "carol", &[]).await;
    report(
        &mut checks,
        "carol, normal priority, meanwhile",
        &got,
        StatusCode::OK,
    );
    for (i, filler) in fillers.into_iter().enumerate() {
        let got = filler.await?;
        report(
            &mut checks,
            &format!("busy-{i}, normal priority"),
            &got,
            StatusCode::OK,
        );
    }

    println!("\nthe caller's deadline (100 ms) against a 300 ms stock:");
    let got = call(
        &http,
        addr,
        "/quote",
        "dave",
        &[("x-request-timeout-ms", "100")],
    )
    .await;
    report(
        &mut checks,
        "dave, with 100 ms to spare",
        &got,
        StatusCode::GATEWAY_TIMEOUT,
    );
    slow(&stock_knobs, 0);

    println!("\nthree quotes at once against pricing's bulkhead of 2 (300 ms each), client side:");
    slow(&pricing_knobs, 300);
    let at_once: Vec<_> = ["erin", "frank", "grace"]
        .into_iter()
        .map(|who| {
            let http = http.clone();
            tokio::spawn(async move { (who, call(&http, addr, "/quote", who, &[]).await) })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in at_once {
        let (who, got) = task.await?;
        let want = if got.status == StatusCode::OK {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        report(&mut checks, &format!("{who}, at the same time"), &got, want);
        statuses.push(got.status);
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    if refused != 1 {
        checks.push(format!(
            "{refused} of 3 quotes refused by the bulkhead, wanted 1"
        ));
    }
    slow(&pricing_knobs, 0);

    println!("\npricing fails; its breaker opens, client side:");
    pricing_knobs.broken.store(true, Ordering::Relaxed);
    let mut last = None;
    for i in 1..=6 {
        let got = call(&http, addr, "/quote", &format!("henry-{i}"), &[]).await;
        let open = got.status == StatusCode::SERVICE_UNAVAILABLE;
        let want = if open {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::BAD_GATEWAY
        };
        report(&mut checks, &format!("henry-{i}"), &got, want);
        if open {
            last = Some(got);
            break;
        }
    }
    match last {
        Some(got) if got.retry_after().is_some() && got.body.starts_with("circuit open") => {}
        _ => checks.push("the breaker never answered 503 with Retry-After".into()),
    }
    println!(
        "  pricing's breaker: {:?}, {} calls, {} failures, {} refused",
        pricing.breaker.metrics().state,
        pricing.breaker.metrics().calls,
        pricing.breaker.metrics().failures,
        pricing.breaker.metrics().rejected,
    );

    if checks.is_empty() {
        println!("\nevery check holds");
        Ok(())
    } else {
        for c in &checks {
            eprintln!("check failed: {c}");
        }
        std::process::exit(1);
    }
}

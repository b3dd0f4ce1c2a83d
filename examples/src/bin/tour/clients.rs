//! The storefront's client side: one ballast stack per dependency, built
//! with the facade, outermost first: a deadline for the whole call, retry
//! with a budget within it, the circuit breaker seeing every attempt, an
//! adaptive concurrency limit, and the time left sent along. Each call is
//! measured against its deadline.

use crate::stats::{Calls, Deadlines};
use axum::body::Body;
use axum::http::StatusCode;
use ballast::bulkhead::adaptive::{AdaptiveConfig, Gradient2};
use ballast::circuit_breaker::State as BreakerState;
use ballast::deadline::propagate::SendConfig;
use ballast::prelude::*;
use ballast::{circuit_breaker, deadline, retry};
use hyper_util::client::legacy::Client as Http;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// How long one call to a dependency may take, retries included.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(800);

/// How far past its deadline a call may end before the check fails: a
/// timer firing late on a loaded machine, and the unwinding after it.
pub const DEADLINE_TOLERANCE: Duration = Duration::from_millis(250);

/// A dependency answered with a server error.
#[derive(Debug)]
struct Failed(StatusCode);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dependency answered {}", self.0)
    }
}

impl std::error::Error for Failed {}

type Stack = BoxCloneSyncService<http::Request<String>, StatusCode, BoxError>;

/// A client of one dependency: its policies, its stack, what it measured.
pub struct Client {
    /// The dependency's name.
    pub name: &'static str,
    addr: SocketAddr,
    /// Stops calling the dependency while it fails.
    pub breaker: Breaker,
    /// Caps calls in flight at what the dependency can take.
    pub limiter: AdaptiveLimiter,
    /// Retries transient failures, within a budget.
    pub retry: retry::Policy<retry::RetryErrors>,
    stack: Stack,
    /// Latencies and failures of calls through the stack.
    pub calls: Calls,
    /// Each call against its deadline.
    pub deadlines: Deadlines,
}

/// How a call ended, as the caller sees it.
#[derive(Debug)]
pub enum Outcome {
    /// 2xx.
    Done,
    /// A 4xx: the dependency refused for good (a declined card).
    Refused(StatusCode),
    /// A failure worth another try later: a 5xx, a timeout, or a refusal
    /// by our own stack (open breaker, limit reached, budget spent).
    Failed(BoxError),
}

impl Client {
    /// A client of the dependency at `addr`.
    pub fn new(
        name: &'static str,
        addr: SocketAddr,
        http: Http<HttpConnector, String>,
    ) -> Result<Arc<Self>, BoxError> {
        let breaker = Breaker::new(
            circuit_breaker::Config::builder()
                .name(name)
                .sliding_window(circuit_breaker::SlidingWindow::count(20))
                .minimum_calls(10)
                .failure_rate_threshold(50.0)
                .wait_in_open(Duration::from_millis(700))
                .build()?,
        );
        let limiter = AdaptiveLimiter::new(
            AdaptiveConfig::builder()
                .name(name)
                .initial_limit(16)
                .min_limit(4)
                .max_limit(64)
                .algorithm(Gradient2::default())
                .build()?,
        );
        let retry = retry::Policy::new(
            retry::Config::builder()
                .max_attempts(3)
                .backoff(
                    retry::Backoff::exponential(Duration::from_millis(10))
                        .cap(Duration::from_millis(100))
                        .build()?,
                )
                .build()?,
            retry::RetryErrors,
        );
        let send = service_fn(move |req: http::Request<String>| {
            let http = http.clone();
            async move {
                let res = http.request(req).await?;
                let status = res.status();
                // Read the body so the connection goes back to the pool.
                let _ = axum::body::to_bytes(Body::new(res.into_body()), 64 * 1024).await?;
                if status.is_server_error() {
                    return Err(BoxError::from(Failed(status)));
                }
                Ok(status)
            }
        });
        let stack = ServiceBuilder::new()
            .with_deadline(deadline::Config::with_timeout(CALL_TIMEOUT)?)
            .with_retry_policy(&retry)
            .with_circuit_breaker(&breaker)
            .with_adaptive_limiter(&limiter)
            .with_sent_deadline(SendConfig::default())
            .service(send);
        Ok(Arc::new(Client {
            name,
            addr,
            breaker,
            limiter,
            retry,
            stack: BoxCloneSyncService::new(stack),
            calls: Calls::default(),
            deadlines: Deadlines::default(),
        }))
    }

    /// `POST /{op}` with `key` as the idempotency key (which also lets
    /// retry send it again), or `GET /stock` when `key` is `None`.
    pub async fn call(&self, op: &str, key: Option<&str>) -> Outcome {
        let req = match key {
            Some(key) => http::Request::post(format!("http://{}/{op}", self.addr))
                .header("idempotency-key", key),
            None => http::Request::get(format!("http://{}/{op}", self.addr)),
        };
        let req = req.body(String::new()).expect("a valid request");
        let start = Instant::now();
        let got = self.stack.clone().oneshot(req).await;
        let took = start.elapsed();
        self.deadlines
            .record(took, CALL_TIMEOUT, DEADLINE_TOLERANCE);
        let outcome = match got {
            Ok(s) if s.is_success() => Outcome::Done,
            Ok(s) => Outcome::Refused(s),
            Err(e) => Outcome::Failed(e),
        };
        self.calls
            .record(took, matches!(outcome, Outcome::Failed(_)));
        outcome
    }

    /// The breaker's state as a short word.
    pub fn breaker_state(&self) -> &'static str {
        match self.breaker.metrics().state {
            BreakerState::Closed => "closed",
            BreakerState::Open | BreakerState::ForcedOpen => "open",
            BreakerState::HalfOpen => "half-open",
            BreakerState::Recovering => "recovering",
            _ => "other",
        }
    }
}

/// The three clients.
pub struct Clients {
    pub inventory: Arc<Client>,
    pub payments: Arc<Client>,
    pub shipping: Arc<Client>,
}

impl Clients {
    /// Clients of the dependencies at `addrs` (inventory, payments,
    /// shipping).
    pub fn new(addrs: [SocketAddr; 3]) -> Result<Self, BoxError> {
        let http: Http<HttpConnector, String> = Http::builder(TokioExecutor::new()).build_http();
        Ok(Clients {
            inventory: Client::new("inventory", addrs[0], http.clone())?,
            payments: Client::new("payments", addrs[1], http.clone())?,
            shipping: Client::new("shipping", addrs[2], http)?,
        })
    }

    /// All three, in display order.
    pub fn all(&self) -> [&Arc<Client>; 3] {
        [&self.inventory, &self.payments, &self.shipping]
    }
}

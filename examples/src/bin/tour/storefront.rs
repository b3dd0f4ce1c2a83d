//! The storefront: an axum API placing orders. Its server-side stack,
//! outermost first: every refusal answered with its status, a rate limit
//! per client (429), load shedding by priority (503), the deadline each
//! request brings (504). `POST /orders` checks availability with inventory
//! (through the client stack) and starts the order's saga: 202 with the
//! saga's id.

use crate::clients::{Clients, Outcome};
use crate::orders::{Order, SAGA};
use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::http::{Response, StatusCode};
use axum::routing::post;
use ballast::axum::handle_error;
use ballast::deadline::propagate::ReceiveConfig;
use ballast::prelude::*;
use ballast::{bulkhead, ratelimit};
use ballast_saga::{ExecutorHandle, StartError};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tower::ServiceBuilder;

/// What the handlers share.
#[derive(Clone)]
pub struct Shop {
    /// The saga executor, swapped when the scenario restarts it; `None`
    /// while it is down.
    pub executor: Arc<RwLock<Option<ExecutorHandle>>>,
    pub clients: Arc<Clients>,
}

/// The server-side policy whose counts the display shows.
pub struct Guards {
    pub shedder: LoadShedder,
}

fn header(req: &Request, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn answer(status: StatusCode, body: String) -> Response<Body> {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res
}

async fn place(State(shop): State<Shop>, req: Request) -> Response<Body> {
    let client = header(&req, "x-client");
    match shop.clients.inventory.call("stock", None).await {
        Outcome::Done => {}
        Outcome::Refused(status) => return answer(StatusCode::CONFLICT, format!("{status}")),
        // Our own client side refused (open breaker, limit) or inventory
        // failed: either way the caller gets a 503, never a 429.
        Outcome::Failed(err) => {
            return match Rejected::find(&err) {
                Some(rejected) => rejected.to_http_response(Side::Client),
                None => answer(StatusCode::SERVICE_UNAVAILABLE, format!("{err}")),
            };
        }
    }
    let executor = shop.executor.read().unwrap().clone();
    let Some(executor) = executor else {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "restarting".into());
    };
    let order = Order {
        client,
        ..Order::default()
    };
    match executor.start_saga(SAGA.0, SAGA.1, &order).await {
        Ok(id) => answer(StatusCode::ACCEPTED, id.to_string()),
        Err(StartError::ShutDown) => answer(StatusCode::SERVICE_UNAVAILABLE, "restarting".into()),
        Err(e) => answer(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Starts the storefront; returns its address and its guards.
pub async fn start(shop: Shop) -> Result<(SocketAddr, Guards), BoxError> {
    let per_client = KeyedRateLimiter::new(
        ratelimit::Config::builder()
            .name("per-client")
            .rate(12, Duration::from_secs(1))
            .burst(6)
            .build()?,
    );
    let shedder = LoadShedder::new(
        bulkhead::shed::ShedConfig::builder()
            .name("storefront")
            .max_in_flight(24)
            .threshold(Priority::Low, 25)
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
        .route("/orders", post(place))
        .with_state(shop)
        .layer(server_side);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((addr, Guards { shedder }))
}

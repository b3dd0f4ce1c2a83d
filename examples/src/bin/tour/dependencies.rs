//! The three services the storefront depends on (inventory, payments,
//! shipping): axum servers on loopback that a scenario makes slow or down,
//! and that keep their own records of what they did, by idempotency key.
//! The report's checks read those records, not the storefront's view.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use ballast::deadline::propagate::ReceiveConfig;
use ballast::prelude::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceBuilder;

/// How a dependency behaves now, set by the scenario.
#[derive(Default)]
pub struct Knobs {
    /// Milliseconds each answer takes at least.
    pub delay_ms: AtomicU64,
    /// Up to this many milliseconds more, at random.
    pub jitter_ms: AtomicU64,
    /// Answer 503 to everything, at once.
    pub down: AtomicBool,
}

/// One dependency: its knobs and its own records.
pub struct Dependency {
    /// Its name, as the display and the report show it.
    pub name: &'static str,
    /// What the scenario turns.
    pub knobs: Knobs,
    /// Requests it received, whatever it answered.
    pub received: AtomicU64,
    /// Effects applied, by idempotency key: the count stays at 1 however
    /// often a key comes back (the service deduplicates), so a count
    /// above 1 would be a bug.
    effects: Mutex<HashMap<String, u32>>,
    /// Charges refused (payments only): the card was declined.
    declined: Mutex<HashMap<String, u32>>,
}

impl Dependency {
    fn new(name: &'static str, delay_ms: u64, jitter_ms: u64) -> Arc<Self> {
        let d = Dependency {
            name,
            knobs: Knobs::default(),
            received: AtomicU64::new(0),
            effects: Mutex::default(),
            declined: Mutex::default(),
        };
        d.set_delay(delay_ms, jitter_ms);
        Arc::new(d)
    }

    /// Makes each answer take `delay_ms` plus up to `jitter_ms`.
    pub fn set_delay(&self, delay_ms: u64, jitter_ms: u64) {
        // Relaxed: settings read once per request.
        self.knobs.delay_ms.store(delay_ms, Ordering::Relaxed);
        self.knobs.jitter_ms.store(jitter_ms, Ordering::Relaxed);
    }

    /// Takes the service down (every request answered 503) or back up.
    pub fn set_down(&self, down: bool) {
        // Relaxed: a setting read once per request.
        self.knobs.down.store(down, Ordering::Relaxed);
    }

    /// Whether the effect of `key` was applied.
    pub fn applied(&self, key: &str) -> bool {
        self.effects.lock().unwrap().contains_key(key)
    }

    /// Keys whose effect was applied more than once (none, unless the
    /// service is buggy).
    pub fn applied_twice(&self) -> usize {
        self.effects
            .lock()
            .unwrap()
            .values()
            .filter(|&&n| n > 1)
            .count()
    }

    /// Effects applied whose key ends with `suffix` (`"/reserve"`).
    pub fn applied_like(&self, suffix: &str) -> usize {
        self.effects
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.ends_with(suffix))
            .count()
    }

    /// Effects applied, over all keys.
    pub fn effects(&self) -> usize {
        self.effects.lock().unwrap().len()
    }

    /// Charges declined (payments).
    pub fn declined(&self) -> usize {
        self.declined.lock().unwrap().len()
    }

    /// Applies `key` once; `false` if it was applied before.
    fn apply(&self, key: &str) -> bool {
        let mut effects = self.effects.lock().unwrap();
        let n = effects.entry(key.to_owned()).or_insert(0);
        if *n == 0 {
            *n = 1;
            true
        } else {
            false
        }
    }
}

/// The three dependencies.
pub struct Dependencies {
    pub inventory: Arc<Dependency>,
    pub payments: Arc<Dependency>,
    pub shipping: Arc<Dependency>,
}

impl Dependencies {
    /// All three, in display order.
    pub fn all(&self) -> [&Arc<Dependency>; 3] {
        [&self.inventory, &self.payments, &self.shipping]
    }
}

/// Starts the three services; returns them with their addresses.
pub async fn start() -> Result<(Dependencies, [SocketAddr; 3]), BoxError> {
    let deps = Dependencies {
        inventory: Dependency::new("inventory", 3, 6),
        payments: Dependency::new("payments", 10, 20),
        shipping: Dependency::new("shipping", 5, 10),
    };
    let mut addrs = Vec::new();
    for dep in deps.all() {
        addrs.push(serve(dep.clone()).await?);
    }
    Ok((deps, [addrs[0], addrs[1], addrs[2]]))
}

/// Whether the card of the order `saga` is declined: one order in twelve,
/// decided by its id so every attempt gets the same answer.
fn declined(saga: &str) -> bool {
    saga.bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 12
        == 0
}

/// `POST /{op}` with an `idempotency-key` header (`{saga}/{step}`, or
/// `{saga}/{step}/compensate`): applies the operation once per key.
/// `GET /stock`: an availability check, which changes nothing.
async fn serve(dep: Arc<Dependency>) -> Result<SocketAddr, BoxError> {
    let app = Router::new()
        .route("/stock", get(stock))
        .route("/{op}", post(operation))
        .with_state(dep)
        .layer(
            // The caller's deadline: a handler still running when it
            // passes is cancelled (504), so it applies nothing late.
            ServiceBuilder::new().with_received_deadline(ReceiveConfig::default()),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Waits as the knobs say; `Err` when the service is down.
async fn work(dep: &Dependency) -> Result<(), StatusCode> {
    // Relaxed: a statistic, and settings read once per request.
    dep.received.fetch_add(1, Ordering::Relaxed);
    if dep.knobs.down.load(Ordering::Relaxed) {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    let delay = dep.knobs.delay_ms.load(Ordering::Relaxed);
    let jitter = dep.knobs.jitter_ms.load(Ordering::Relaxed);
    let extra = if jitter > 0 {
        rand::random::<u64>() % jitter
    } else {
        0
    };
    tokio::time::sleep(Duration::from_millis(delay + extra)).await;
    Ok(())
}

async fn stock(State(dep): State<Arc<Dependency>>) -> (StatusCode, &'static str) {
    match work(&dep).await {
        Ok(()) => (StatusCode::OK, "in stock"),
        Err(status) => (status, "down"),
    }
}

async fn operation(
    State(dep): State<Arc<Dependency>>,
    Path(op): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return (StatusCode::BAD_REQUEST, "no idempotency-key".into());
    };
    if let Err(status) = work(&dep).await {
        return (status, "down".into());
    }
    let saga = key.split('/').next().unwrap_or_default();
    if op == "charge" && declined(saga) {
        *dep.declined.lock().unwrap().entry(key).or_default() += 1;
        return (StatusCode::PAYMENT_REQUIRED, "card declined".into());
    }
    // An action arriving after its own compensation (it was late: the
    // caller gave up on it and undid it) applies nothing: the undo wins.
    if dep.applied(&format!("{key}/compensate")) {
        return (StatusCode::OK, format!("{op} {key} already undone"));
    }
    let first = dep.apply(&key);
    (StatusCode::OK, format!("{op} {key} applied: {first}"))
}

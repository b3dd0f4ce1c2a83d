//! The load generator: clients placing orders at a steady rate each (open
//! loop: a slow answer does not slow the next request), one of them
//! greedy, and a low-priority batch client while the scenario surges.

use crate::stats::{Answers, Calls};
use axum::body::Body;
use hyper_util::client::legacy::Client as Http;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// What the load generator saw.
#[derive(Default)]
pub struct Seen {
    /// The storefront's answers by status.
    pub answers: Answers,
    /// Their latencies.
    pub latency: Calls,
    /// The ids of the orders accepted (the sagas started).
    pub accepted: Mutex<Vec<String>>,
}

/// The load: who sends, how fast, and the switches the scenario turns.
pub struct Load {
    pub seen: Arc<Seen>,
    /// Orders per second of each steady client.
    pub per_client: u32,
    /// Set while the batch client sends (low priority).
    pub surge: Arc<AtomicBool>,
    /// Set to stop sending.
    pub stop: Arc<AtomicBool>,
}

/// The steady clients; "greedy" sends three times its share.
const CLIENTS: [(&str, u32); 5] = [
    ("alice", 1),
    ("bob", 1),
    ("carol", 1),
    ("dave", 1),
    ("greedy", 3),
];

impl Load {
    /// A load of `per_client` orders a second for each steady client.
    pub fn new(per_client: u32) -> Self {
        Load {
            seen: Arc::default(),
            per_client,
            surge: Arc::default(),
            stop: Arc::default(),
        }
    }

    /// Starts sending to the storefront at `addr`; the tasks end once
    /// `stop` is set and their requests are answered.
    pub fn start(&self, addr: SocketAddr) -> JoinSet<()> {
        let http: Http<HttpConnector, String> = Http::builder(TokioExecutor::new()).build_http();
        let mut tasks = JoinSet::new();
        let mut senders: Vec<(&'static str, u32, bool)> = CLIENTS
            .iter()
            .map(|&(name, x)| (name, x * self.per_client, false))
            .collect();
        senders.push(("batch", 4 * self.per_client, true));
        for (name, rate, batch) in senders {
            let (http, seen, stop, surge) = (
                http.clone(),
                self.seen.clone(),
                self.stop.clone(),
                self.surge.clone(),
            );
            tasks.spawn(async move {
                let mut tick =
                    tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
                tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                let mut sent = JoinSet::new();
                // Relaxed: switches read once per tick.
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    if batch && !surge.load(Ordering::Relaxed) {
                        continue;
                    }
                    let (http, seen) = (http.clone(), seen.clone());
                    sent.spawn(async move { order(&http, addr, name, batch, &seen).await });
                    while sent.try_join_next().is_some() {}
                }
                while sent.join_next().await.is_some() {}
            });
        }
        tasks
    }
}

/// Places one order as `client` and records what came back.
async fn order(
    http: &Http<HttpConnector, String>,
    addr: SocketAddr,
    client: &str,
    low: bool,
    seen: &Seen,
) {
    let mut req = http::Request::post(format!("http://{addr}/orders"))
        .header("x-client", client)
        .header("x-request-timeout-ms", "2000");
    if low {
        req = req.header("x-priority", "low");
    }
    let req = req.body(String::new()).expect("a valid request");
    let start = Instant::now();
    let (status, body) = match http.request(req).await {
        Ok(res) => {
            let status = res.status().as_u16();
            let body = axum::body::to_bytes(Body::new(res.into_body()), 64 * 1024)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            (status, body)
        }
        Err(_) => (0, String::new()),
    };
    seen.latency.record(start.elapsed(), status != 202);
    seen.answers.count(status);
    if status == 202 {
        seen.accepted.lock().unwrap().push(body);
    }
}

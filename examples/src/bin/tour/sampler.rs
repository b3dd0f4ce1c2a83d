//! Every tick, one sample of everything the display and the HTML report
//! show: request rate and latency, each dependency's breaker, limit,
//! retries and budget, the sagas by status, the outbox backlog.

use crate::stats::quantile_ms;
use crate::store::Store;
use crate::world::World;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a sample is taken.
pub const TICK: Duration = Duration::from_millis(250);

/// One dependency at one moment.
#[derive(Debug, Clone, Default)]
pub struct DepSample {
    /// Call latency over the last tick, in milliseconds.
    pub p50: f64,
    pub p99: f64,
    /// The breaker's state.
    pub breaker: &'static str,
    /// The adaptive limit, and calls in flight under it.
    pub limit: u32,
    pub in_flight: u32,
    /// Retries so far, and retries the budget would allow now.
    pub retries: u64,
    pub budget_left: u64,
    /// Failed calls so far.
    pub failed: u64,
}

/// Everything at one moment.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Seconds since the load started.
    pub t: f64,
    /// The scenario's phase (an index).
    pub phase: usize,
    /// Storefront requests answered per second over the last tick.
    pub rps: f64,
    /// Their latency over the last tick, in milliseconds.
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    /// Answers so far: 202, 429, 503, other.
    pub answers: [u64; 4],
    /// Requests shed so far by the storefront's load shedder.
    pub shed: u64,
    /// Inventory, payments, shipping.
    pub deps: [DepSample; 3],
    /// Sagas completed, compensated, still running or compensating, and
    /// in any other status (stuck, paused), from the saga table.
    pub completed: u64,
    pub compensated: u64,
    pub active: u64,
    pub other: u64,
    /// Messages waiting in the outbox.
    pub backlog: u64,
    /// Events the consumer handled, and duplicates its inbox absorbed.
    pub handled: u64,
    pub duplicates: u64,
}

/// The samples taken so far.
pub type Timeline = Arc<Mutex<Vec<Sample>>>;

/// Counts the sagas by status: (completed, compensated, active, other).
pub async fn saga_counts(store: &Store) -> Result<[u64; 4], sqlx::Error> {
    let rows = store.saga_statuses().await?;
    let mut c = [0u64; 4];
    for (status, n) in rows {
        let i = match status.as_str() {
            "completed" => 0,
            "compensated" => 1,
            "running" | "compensating" => 2,
            _ => 3,
        };
        c[i] += n as u64;
    }
    Ok(c)
}

/// Takes one sample.
pub async fn sample(world: &World, since: Instant, last: Option<&Sample>) -> Sample {
    let lat = world.load.seen.latency.take();
    let answers = world.load.seen.answers.get();
    let deps = world.clients.all().map(|c| {
        let lat = c.calls.take();
        let l = c.limiter.snapshot();
        let r = c.retry.metrics();
        DepSample {
            p50: quantile_ms(&lat, 0.5),
            p99: quantile_ms(&lat, 0.99),
            breaker: c.breaker_state(),
            limit: l.limit,
            in_flight: l.in_flight,
            retries: r.retries,
            budget_left: c.retry.budget().available(),
            // Relaxed: a statistic.
            failed: c.calls.failed.load(Ordering::Relaxed),
        }
    });
    let t = since.elapsed().as_secs_f64();
    let answered: u64 = answers.iter().sum();
    let rps = match last {
        Some(l) if t > l.t => (answered - l.answers.iter().sum::<u64>()) as f64 / (t - l.t),
        _ => 0.0,
    };
    // A failed read (the database busy) keeps the last value.
    let sagas = saga_counts(&world.store).await.ok();
    let backlog = world.store.backlog().await.ok().map(|b| b.messages);
    let keep = |f: fn(&Sample) -> u64| last.map(f).unwrap_or(0);
    Sample {
        t,
        // Relaxed: a label and statistics, read once per tick.
        phase: world.phase.load(Ordering::Relaxed),
        rps,
        p50: quantile_ms(&lat, 0.5),
        p95: quantile_ms(&lat, 0.95),
        p99: quantile_ms(&lat, 0.99),
        answers,
        shed: world.guards.shedder.snapshot().shed,
        deps,
        completed: sagas.map(|s| s[0]).unwrap_or_else(|| keep(|s| s.completed)),
        compensated: sagas
            .map(|s| s[1])
            .unwrap_or_else(|| keep(|s| s.compensated)),
        active: sagas.map(|s| s[2]).unwrap_or_else(|| keep(|s| s.active)),
        other: sagas.map(|s| s[3]).unwrap_or_else(|| keep(|s| s.other)),
        backlog: backlog.unwrap_or_else(|| keep(|s| s.backlog)),
        handled: world.consumed.handled.load(Ordering::Relaxed),
        duplicates: world.consumed.duplicates.load(Ordering::Relaxed),
    }
}

//! The adaptive-limit demo: an adaptive concurrency limit finds a slow
//! dependency's capacity by itself, for each of ballast's algorithms.
//!
//! Run it with `cargo run -p ballast-examples --bin adaptive-limit`. It
//! takes about 9 seconds, needs nothing but Rust, and exits by itself.
//!
//! The dependency is in-process (a `tower::service_fn`): it serves 40 calls
//! at once in 20 ms each; more calls than that queue, and each call's
//! latency grows with the queue (20 ms × calls in progress / 40); once 5
//! calls queue, it refuses more at once (an error, as an overloaded server
//! answers 503). A client offers three times what it can serve (6 calls a
//! millisecond) through an [`AdaptiveLimiter`]'s tower layer, starting
//! from a limit of 10. The limiter knows nothing of the 40: every 200 ms the
//! program prints the limit it has found, the round trip it measures and
//! what was refused, for Vegas, Gradient2 and AIMD in turn.
//!
//! The clock is real, so figures move a little from run to run. Set
//! `BALLAST_LOG=1` to also see every limit change (old, new, why) as the
//! limiter's own `tracing` events on stderr.

use ballast_bulkhead::BoxError;
use ballast_bulkhead::adaptive::{
    AdaptiveConfig, AdaptiveLimiter, AdaptiveSnapshot, Aimd, Algorithm, Gradient2, Vegas,
};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// Calls the dependency serves at once: the number the limiter must find.
const CAPACITY: usize = 40;
/// How long one call takes when nothing queues.
const BASE: Duration = Duration::from_millis(20);
/// Calls that may queue before the dependency refuses more.
const MAX_QUEUE: usize = CAPACITY / 8;
/// Calls offered per tick, and the tick: 3× what the dependency serves.
const PER_TICK: usize = 3 * CAPACITY * 5 / 20;
const TICK: Duration = Duration::from_millis(5);
/// How long each algorithm runs, and how often a line is printed.
const RUN_FOR: Duration = Duration::from_secs(3);
const REPORT_EVERY: Duration = Duration::from_millis(200);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if std::env::var_os("BALLAST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_writer(io::stderr)
            .with_max_level(tracing::Level::DEBUG)
            .init();
    }
    println!(
        "dependency: {CAPACITY} calls at once, {} ms each; offered: {} calls/ms (3x)",
        BASE.as_millis(),
        PER_TICK as u128 / TICK.as_millis()
    );
    let algorithms: [(&str, Algorithm); 3] = [
        ("vegas", Vegas::default().into()),
        ("gradient2", Gradient2::default().into()),
        ("aimd", Aimd::default().into()),
    ];
    for (name, algorithm) in algorithms {
        let limiter = AdaptiveLimiter::new(
            AdaptiveConfig::builder()
                .name(name)
                .initial_limit(10)
                .algorithm(algorithm)
                .build()?,
        );
        println!("\n{name}: limit starts at 10");
        let settled = drive(&limiter).await;
        let s = limiter.snapshot();
        println!(
            "{name}: over the last second the limit averaged {settled:.1} \
             (capacity {CAPACITY}); {} limit changes, {} refused",
            s.limit_changes, s.rejected
        );
    }
    Ok(())
}

/// Offers 3× the capacity through `limiter` for `RUN_FOR`, printing what it
/// finds; returns the mean limit over the last second.
async fn drive(limiter: &AdaptiveLimiter) -> f64 {
    let in_progress = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicU64::new(0));
    let dependency = service_fn(move |()| {
        let in_progress = in_progress.clone();
        async move {
            let now = in_progress.fetch_add(1, Ordering::Relaxed) + 1;
            let _done = Done(&in_progress);
            if now > CAPACITY + MAX_QUEUE {
                return Err(BoxError::from("503: overloaded"));
            }
            // Latency grows with the queue: `now` calls share 40 servers.
            let latency = BASE.mul_f64((now as f64 / CAPACITY as f64).max(1.0));
            tokio::time::sleep(latency).await;
            Ok::<_, BoxError>(())
        }
    });
    let client = ServiceBuilder::new()
        .layer(limiter.layer())
        .service(dependency);

    let start = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut next_report = REPORT_EVERY;
    let mut last_second = Vec::new();
    while start.elapsed() < RUN_FOR {
        tick.tick().await;
        for _ in 0..PER_TICK {
            let mut client = client.clone();
            let served = served.clone();
            tokio::spawn(async move {
                let Ok(ready) = client.ready().await else {
                    return;
                };
                // An error is a refusal by the limiter (a `Rejected`,
                // counted in the snapshot) or the dependency's 503 (a drop
                // the limiter backs off from).
                if ready.call(()).await.is_ok() {
                    served.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let t = start.elapsed();
        if t >= next_report {
            next_report += REPORT_EVERY;
            let s = limiter.snapshot();
            if t >= RUN_FOR - Duration::from_secs(1) {
                last_second.push(f64::from(s.limit));
            }
            report(t, &s, served.swap(0, Ordering::Relaxed));
        }
    }
    last_second.iter().sum::<f64>() / last_second.len().max(1) as f64
}

fn report(t: Duration, s: &AdaptiveSnapshot, served: u64) {
    let rtt = s.last_rtt.map_or_else(
        || "-".to_string(),
        |r| format!("{:.1}ms", r.as_secs_f64() * 1e3),
    );
    println!(
        "  {:>5}ms  limit {:>3}  in flight {:>3}  rtt {:>7}  served {:>4}  refused so far {:>6}",
        t.as_millis(),
        s.limit,
        s.in_flight,
        rtt,
        served,
        s.rejected
    );
}

/// Counts a call out of the dependency however it ends.
struct Done<'a>(&'a AtomicUsize);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

//! The retry-storm demo: a dependency fails for a while, a thousand
//! clients retry, and the retry budget keeps the retries from multiplying
//! the load on it.
//!
//! Run it with `cargo run -p ballast-examples --bin retry-storm`. It takes
//! about 4 seconds, needs nothing but Rust, and exits by itself.
//!
//! Two copies of the same world run side by side, one with ballast's
//! default retry budget (20% of requests plus a small reserve) and one
//! with the budget turned off. In each, 1,000 clients each send one request
//! every tick (a tick is 250 ms of real time: the demo is time-lapsed)
//! through one shared [`Policy`] with a common client setting: 4 attempts,
//! exponential backoff with full jitter. The dependency answers at once,
//! except from tick 4 to tick 11, when it fails every call.
//!
//! Every tick the program prints the load offered (original requests) and
//! the load the dependency saw in each world. Without the budget, every
//! failing request is tried 4 times: the dependency sees about 4 times its
//! normal load exactly while it is down. With the budget it sees at most
//! the budget's 20% more (plus its reserve), and recovers at once.

use ballast_retry::{Backoff, BudgetConfig, Config, Jitter, Metrics, Policy, RetryErrors};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// One tick of the time-lapse, the budget's bucket and the reporting step.
const TICK: Duration = Duration::from_millis(250);
/// Ticks in all; the dependency fails in `FAIL_FROM..FAIL_UNTIL`.
const TICKS: usize = 16;
const FAIL_FROM: usize = 4;
const FAIL_UNTIL: usize = 12;
const CLIENTS: u64 = 1_000;

/// The clock both worlds share: which tick it is.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn tick(self) -> usize {
        (self.0.elapsed().as_millis() / TICK.as_millis()) as usize
    }
}

/// Counts per tick.
struct Counts(Vec<AtomicU64>);

impl Counts {
    fn new() -> Arc<Self> {
        Arc::new(Counts((0..TICKS + 8).map(|_| AtomicU64::new(0)).collect()))
    }

    fn add(&self, tick: usize) {
        // Relaxed: a count, read after every task has been joined.
        self.0[tick.min(self.0.len() - 1)].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, tick: usize) -> u64 {
        self.0[tick].load(Ordering::Relaxed)
    }
}

/// A common client setting, with the time-lapse's units: 4 attempts,
/// exponential backoff from 25 ms (a tenth of a tick), capped at a tick.
fn client(budget: Option<BudgetConfig>) -> Config {
    let config = Config::builder().max_attempts(4).backoff(
        Backoff::exponential(Duration::from_millis(25))
            .cap(TICK)
            .jitter(Jitter::Full)
            .build()
            .expect("a valid backoff"),
    );
    match budget {
        Some(budget) => config.budget(budget),
        None => config.no_budget(),
    }
    .build()
    .expect("a valid config")
}

/// Runs one world: the offered and seen load per tick, and the policy's
/// counts.
async fn world(clock: Clock, config: Config) -> (Arc<Counts>, Arc<Counts>, Metrics) {
    let (offered, seen) = (Counts::new(), Counts::new());
    let dependency = service_fn({
        let seen = seen.clone();
        move |_: u64| {
            let tick = clock.tick();
            seen.add(tick);
            let failing = (FAIL_FROM..FAIL_UNTIL).contains(&tick);
            async move {
                if failing {
                    Err(io::Error::other("unavailable"))
                } else {
                    Ok(())
                }
            }
        }
    });
    let policy = Policy::new(config, RetryErrors);
    let client = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dependency);

    // Every millisecond, the 4 clients whose turn it is send (1,000 a tick).
    let mut every_ms = tokio::time::interval(Duration::from_millis(1));
    every_ms.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let per_ms = CLIENTS / TICK.as_millis() as u64;
    let mut calls = JoinSet::new();
    for n in 0..(TICKS as u64 * TICK.as_millis() as u64) {
        every_ms.tick().await;
        for c in 0..per_ms {
            offered.add(clock.tick());
            calls.spawn(client.clone().oneshot(n * per_ms + c));
        }
    }
    while calls.join_next().await.is_some() {}
    (offered, seen, policy.metrics())
}

#[tokio::main]
async fn main() {
    println!(
        "retry storm: {CLIENTS} clients, 1 request each per tick of {TICK:?}; \
         the dependency fails from tick {FAIL_FROM} to tick {}",
        FAIL_UNTIL - 1
    );
    // The default budget, 20% plus 10 a second, with its window scaled to
    // the time-lapse: 4 ticks of one bucket each.
    let budget = BudgetConfig::builder()
        .percent(20.0)
        .min_per_second(10)
        .window(TICK * 4)
        .buckets(4)
        .build()
        .expect("a valid budget");
    let clock = Clock(Instant::now());
    let (on, off) = tokio::join!(
        tokio::spawn(world(clock, client(Some(budget)))),
        tokio::spawn(world(clock, client(None))),
    );
    let (offered_on, seen_on, m_on) = on.expect("the budget-on world ran");
    let (offered_off, seen_off, m_off) = off.expect("the budget-off world ran");

    println!();
    println!("tick  dependency   offered | budget on: seen  load | budget off: seen  load");
    let (mut peak_on, mut peak_off) = (0.0f64, 0.0f64);
    for t in 0..TICKS {
        let state = if (FAIL_FROM..FAIL_UNTIL).contains(&t) {
            "failing"
        } else {
            "healthy"
        };
        let (o_on, o_off) = (offered_on.get(t), offered_off.get(t));
        let (s_on, s_off) = (seen_on.get(t), seen_off.get(t));
        let load_on = s_on as f64 / o_on.max(1) as f64;
        let load_off = s_off as f64 / o_off.max(1) as f64;
        // The first and last ticks are cut short by the start and the end.
        if t > 0 && t + 1 < TICKS {
            peak_on = peak_on.max(load_on);
            peak_off = peak_off.max(load_off);
        }
        println!(
            "{t:>4}  {state:<10} {o_on:>8} | {s_on:>15} {load_on:>4.2}x | {s_off:>16} {load_off:>4.2}x"
        );
    }
    println!();
    println!("peak load on the dependency, per original request:");
    println!(
        "  budget on:  {peak_on:.2}x  ({} retries, {} refused by the budget)",
        m_on.retries, m_on.budget_denied
    );
    println!("  budget off: {peak_off:.2}x  ({} retries)", m_off.retries);
}

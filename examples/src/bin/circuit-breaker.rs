//! The circuit-breaker demo: a breaker protects a client from a flaky
//! service, trips, probes, and lets traffic back in.
//!
//! Run it with `cargo run -p ballast-examples --bin circuit-breaker`. It
//! takes about 14 seconds, needs nothing but Rust, and exits by itself.
//!
//! A client sends a request every 20 ms to an in-process service (a
//! `tower::service_fn`) through a [`Breaker`]'s tower layer. The service
//! follows a script: healthy, an outage where most calls fail, a warm-up
//! where calls succeed but slowly, then healthy again. The program prints
//! every state change the moment it happens (a listener registered with
//! [`Breaker::on_state_change`]) and, once a second, what the client saw
//! and what the breaker's sliding window holds ([`Breaker::metrics`]).
//!
//! The service's failures come from a seeded random generator and the
//! breaker's jitter from a seeded config, so runs look alike; the clock is
//! real, so timings move by a few milliseconds from run to run.
//!
//! Set `BALLAST_LOG=1` to also see the breaker's own `tracing` events on
//! stderr, as an application's logs would show them.

use ballast_circuit_breaker::{
    BoxError, Breaker, Cause, Config, GradualRecovery, Metrics, OpenBackoff, Reason, Rejected,
    SlidingWindow, State, StateChange,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// The client sends one request this often (50 a second).
const REQUEST_EVERY: Duration = Duration::from_millis(20);
/// How often the per-second summary line is printed.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// One stretch of the service's script.
struct Phase {
    name: &'static str,
    /// The phase lasts until this long after the start.
    until: Duration,
    /// The share of calls that fail, in percent.
    fail_percent: u32,
    /// How long every call takes.
    latency: Duration,
    about: &'static str,
}

const SCRIPT: [Phase; 4] = [
    Phase {
        name: "healthy",
        until: Duration::from_secs(3),
        fail_percent: 2,
        latency: Duration::from_millis(5),
        about: "fast; 2% of calls fail",
    },
    Phase {
        name: "outage",
        until: Duration::from_secs(7),
        fail_percent: 90,
        latency: Duration::from_millis(5),
        about: "90% of calls fail",
    },
    Phase {
        name: "warming up",
        until: Duration::from_millis(9500),
        fail_percent: 0,
        latency: Duration::from_millis(150),
        about: "calls succeed but take 150ms (slow)",
    },
    Phase {
        name: "healthy",
        until: Duration::from_secs(14),
        fail_percent: 2,
        latency: Duration::from_millis(5),
        about: "fast; 2% of calls fail",
    },
];

fn phase_at(elapsed: Duration) -> &'static Phase {
    SCRIPT
        .iter()
        .find(|p| elapsed < p.until)
        .unwrap_or(&SCRIPT[SCRIPT.len() - 1])
}

/// The breaker under demonstration. The header printed by [`explain`]
/// describes these settings in words.
fn config() -> Result<Config, BoxError> {
    let config = Config::builder()
        .name("inventory")
        // Judge the last 20 calls, once there are at least 10.
        .sliding_window(SlidingWindow::count(20))
        .minimum_calls(10)
        // Open when half of them failed...
        .failure_rate_threshold(50.0)
        // ...or half of them took 100ms or longer.
        .slow_call_duration(Duration::from_millis(100))
        .slow_call_rate_threshold(50.0)
        // Stay open 400ms, doubling on each consecutive trip up to 2s, +-10%.
        .wait_in_open(Duration::from_millis(400))
        .open_backoff(OpenBackoff::exponential(2.0, Duration::from_secs(2)).jitter(0.1))
        .seed(7)
        // Go half-open when the wait is over, even if no call arrives.
        .automatic_half_open(true)
        // Let 3 probes through; if they pass, ramp from 20% to all calls over 2s.
        .half_open_permits(3)
        .gradual_recovery(GradualRecovery::over(Duration::from_secs(2)).starting_at(20.0))
        .build()?;
    Ok(config)
}

fn explain() {
    println!(
        "\
ballast circuit breaker demo
============================

A client sends 50 requests a second to an in-process \"inventory\" service,
through a circuit breaker. The service follows a script:
"
    );
    let mut from = Duration::ZERO;
    for p in &SCRIPT {
        let span = format!("{} - {}", secs(from), secs(p.until));
        println!("   {span:<13} {:<11} {}", p.name, p.about);
        from = p.until;
    }
    println!(
        "
The breaker judges the last 20 calls (once it has seen 10). It opens when
half of them failed, or half took 100ms or longer. While open it refuses
calls at once, without calling the service; the wait starts at 400ms and
doubles on each consecutive trip, up to 2s. Then it goes half-open and lets
3 probe calls through. If they pass, it lets traffic back in gradually,
from 20% of calls to all of them over 2s (\"recovering\"), then closes.

Lines marked >> are state changes, printed the moment they happen. The
other lines sum up each second: what the client saw (ok, failed by the
service, refused by the breaker), the breaker's state, and its sliding
window of recent calls (which keeps the calls that opened the circuit
until it closes again).
"
    );
    println!(
        "{:>6}  {:<11} {:<11} {:>4} {:>7} {:>8}  | {:>6} {:>7} {:>5}",
        "time", "service", "breaker", "ok", "failed", "refused", "window", "failed", "slow"
    );
}

/// The service being called: answers after the phase's latency and fails
/// the phase's share of calls.
fn inventory_service(
    start: Instant,
) -> impl Service<u64, Response = u64, Error = io::Error, Future: Send + 'static> {
    let mut rng = SmallRng::seed_from_u64(42);
    service_fn(move |item: u64| {
        let phase = phase_at(start.elapsed());
        let fails = rng.random_range(0..100) < phase.fail_percent;
        let latency = phase.latency;
        async move {
            tokio::time::sleep(latency).await;
            if fails {
                Err(io::Error::other("connection refused"))
            } else {
                Ok(item)
            }
        }
    })
}

/// What the client saw.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
    /// The kinds of refusal already shown once.
    seen: Mutex<HashSet<Reason>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    ok: u64,
    failed: u64,
    refused: u64,
}

impl Tally {
    fn record(&self, start: Instant, result: Result<u64, BoxError>) {
        let Err(err) = result else {
            self.ok.fetch_add(1, Ordering::Relaxed);
            return;
        };
        // The breaker's refusals are a typed `Rejected`; anything else is
        // the service's own error.
        let Some(rejected) = err.downcast_ref::<Rejected>() else {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.refused.fetch_add(1, Ordering::Relaxed);
        if self.seen.lock().unwrap().insert(rejected.reason()) {
            println!(
                "{:>6}     first refusal of this kind; the caller gets: \"{rejected}\"",
                at(start)
            );
        }
    }

    fn counts(&self) -> Counts {
        Counts {
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

fn report(elapsed: Duration, m: &Metrics, since_last: Counts) {
    println!(
        "{:>6}  {:<11} {:<11} {:>4} {:>7} {:>8}  | {:>6} {:>6.0}% {:>4.0}%",
        secs(elapsed),
        phase_at(elapsed.saturating_sub(Duration::from_millis(1))).name,
        m.state.as_str(),
        since_last.ok,
        since_last.failed,
        since_last.refused,
        m.calls,
        m.failure_rate,
        m.slow_call_rate,
    );
}

/// One line for a state change: what changed, why, and for how long.
fn describe(e: &StateChange) -> String {
    let why = match e.cause {
        Cause::FailureRate(rate) => format!("{rate:.0}% of recent calls failed"),
        Cause::SlowCallRate(rate) => format!("{rate:.0}% of recent calls were slow"),
        Cause::WaitElapsed => "the wait is over; letting probe calls through".to_owned(),
        Cause::ProbesSucceeded if e.to == State::Recovering => {
            "the probes passed; letting traffic back in gradually".to_owned()
        }
        Cause::ProbesSucceeded => "the probes passed".to_owned(),
        Cause::ProbesFailed {
            failure_rate,
            slow_call_rate,
        } => format!(
            "the probes did not pass ({failure_rate:.0}% failed, {slow_call_rate:.0}% slow)"
        ),
        Cause::HalfOpenTimedOut => "the probes took too long".to_owned(),
        Cause::RecoveryCompleted => "traffic is fully back".to_owned(),
        Cause::RecoveryFailed {
            failure_rate,
            slow_call_rate,
        } => format!(
            "calls failed while ramping up ({failure_rate:.0}% failed, {slow_call_rate:.0}% slow)"
        ),
        Cause::Manual => "an operator used a control".to_owned(),
        other => format!("{other:?}"),
    };
    let mut line = format!("{} -> {}: {why}", e.from, e.to);
    if let Some(wait) = e.open_for {
        line += &format!("; refusing calls for {}", short(wait));
    }
    line
}

/// `3.2s`, for the time column.
fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// `3.24s` since `start`, for events.
fn at(start: Instant) -> String {
    format!("{:.2}s", start.elapsed().as_secs_f64())
}

/// `412ms` or `1.63s`.
fn short(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if std::env::var_os("BALLAST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_writer(io::stderr)
            .with_max_level(tracing::Level::INFO)
            .init();
    }

    let breaker = Breaker::new(config()?);
    explain();

    let start = Instant::now();
    breaker.on_state_change(move |e| println!("{:>6}  >> {}", at(start), describe(e)));

    let mut client = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(inventory_service(start));
    let tally = Arc::new(Tally::default());
    let mut in_flight = JoinSet::new();
    let mut requests = tokio::time::interval(REQUEST_EVERY);
    requests.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let end = SCRIPT[SCRIPT.len() - 1].until;
    let mut next_report = REPORT_EVERY;
    let mut last = Counts::default();
    let mut item = 0;

    while next_report <= end {
        requests.tick().await;
        // Each call runs in its own task, so slow calls do not hold up
        // the next request: the client keeps up its rate, as real
        // traffic would.
        let call = client.ready().await?.call(item);
        item += 1;
        in_flight.spawn({
            let tally = tally.clone();
            async move { tally.record(start, call.await) }
        });
        while in_flight.try_join_next().is_some() {}

        if start.elapsed() >= next_report {
            // Every call started before the report has been decided or is
            // still in flight; in-flight calls show up in the next line.
            let now = tally.counts();
            let since_last = Counts {
                ok: now.ok - last.ok,
                failed: now.failed - last.failed,
                refused: now.refused - last.refused,
            };
            report(next_report, &breaker.metrics(), since_last);
            last = now;
            next_report += REPORT_EVERY;
        }
    }
    while in_flight.join_next().await.is_some() {}

    let total = tally.counts();
    println!(
        "
Done: {} requests; {} ok, {} failed by the service, {} refused by the breaker.
Each refused call failed at once with a typed `Rejected` (often with a hint
of when to try again) instead of going to a service that was failing; a few
probes found out when it was back, and the ramp let traffic return gradually.",
        item, total.ok, total.failed, total.refused
    );
    Ok(())
}

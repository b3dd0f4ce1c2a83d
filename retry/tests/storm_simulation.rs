//! A retry storm, simulated: 1,000 clients, each sending one request a
//! second through one shared retry policy (4 attempts, exponential backoff
//! from 100 ms with full jitter), against a dependency that fails every
//! call for 10 seconds and then recovers. On tokio's paused clock, so 40
//! simulated seconds take well under a second of wall time.
//!
//! The load the dependency sees is counted per second and compared with
//! the offered load (the original requests started that second). Run with
//! `--nocapture` to see the table.

use ballast_retry::{Backoff, BudgetConfig, Config, Jitter, Policy, RetryErrors};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt, service_fn};

const CLIENTS: u64 = 1_000;
const SECONDS: u64 = 40;
/// The dependency fails every call in `[FAIL_FROM, FAIL_UNTIL)` seconds.
/// The ten healthy seconds before fill the budget's 10-second window.
const FAIL_FROM: u64 = 10;
const FAIL_UNTIL: u64 = 20;
/// How long the dependency takes to answer.
const LATENCY: Duration = Duration::from_millis(5);

/// Per second: original requests started, and calls the dependency saw.
struct Load {
    offered: Vec<u64>,
    seen: Vec<u64>,
}

impl Load {
    fn amplification(&self, s: usize) -> f64 {
        self.seen[s] as f64 / self.offered[s] as f64
    }

    /// The worst second.
    fn peak(&self) -> (usize, f64) {
        (0..SECONDS as usize)
            .map(|s| (s, self.amplification(s)))
            .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a })
    }

    /// The worst `window`-second span: what the budget bounds.
    fn peak_over(&self, window: usize) -> f64 {
        (0..=SECONDS as usize - window)
            .map(|s| {
                let seen: u64 = self.seen[s..s + window].iter().sum();
                let offered: u64 = self.offered[s..s + window].iter().sum();
                seen as f64 / offered as f64
            })
            .fold(0.0, f64::max)
    }
}

/// 4 attempts, exponential backoff from 100 ms (doubling, capped at 1 s)
/// with full jitter: a common client setting.
fn client_config() -> ballast_retry::ConfigBuilder {
    Config::builder()
        .max_attempts(4)
        .backoff(
            Backoff::exponential(Duration::from_millis(100))
                .cap(Duration::from_secs(1))
                .jitter(Jitter::Full)
                .build()
                .unwrap(),
        )
        .seed(7)
}

/// Runs the storm with `config` and returns the per-second load.
async fn storm(config: Config) -> (Load, ballast_retry::Metrics) {
    let origin = Instant::now();
    let seen = Arc::new(Mutex::new(vec![0u64; SECONDS as usize + 10]));
    let dependency = service_fn({
        let seen = seen.clone();
        move |_: u64| {
            let second = (Instant::now() - origin).as_secs();
            seen.lock().unwrap()[second as usize] += 1;
            let failing = (FAIL_FROM..FAIL_UNTIL).contains(&second);
            async move {
                tokio::time::sleep(LATENCY).await;
                if failing {
                    Err(std::io::Error::other("unavailable"))
                } else {
                    Ok(second)
                }
            }
        }
    });
    let policy = Policy::new(config, RetryErrors);
    let client = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dependency);

    // Client `c` sends at c ms past every second: 1,000 requests a second,
    // one every millisecond.
    let mut offered = vec![0u64; SECONDS as usize];
    let mut calls = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for n in 0..SECONDS * CLIENTS {
        tick.tick().await;
        let second = (Instant::now() - origin).as_secs();
        offered[second as usize] += 1;
        calls.spawn(client.clone().oneshot(n));
    }
    while calls.join_next().await.is_some() {}
    let seen = seen.lock().unwrap()[..SECONDS as usize].to_vec();
    (Load { offered, seen }, policy.metrics())
}

fn print(name: &str, load: &Load) {
    println!("{name}: second, offered, seen by the dependency, amplification");
    for s in 0..SECONDS as usize {
        let mark = if (FAIL_FROM..FAIL_UNTIL).contains(&(s as u64)) {
            " (failing)"
        } else {
            ""
        };
        println!(
            "  {s:>2}  {:>5}  {:>5}  {:.2}x{mark}",
            load.offered[s],
            load.seen[s],
            load.amplification(s)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_budget_keeps_a_ten_second_outage_from_becoming_a_retry_storm() {
    let budget = BudgetConfig::default(); // 20% + 10 a second over 10 s
    let (with, with_m) = storm(client_config().budget(budget).build().unwrap()).await;
    let (without, without_m) = storm(client_config().no_budget().build().unwrap()).await;
    print("budget on", &with);
    print("budget off", &without);

    let (with_at, with_peak) = with.peak();
    let (without_at, without_peak) = without.peak();
    let with_window = with.peak_over(10);
    let without_window = without.peak_over(10);
    println!(
        "peak amplification, worst second: budget on {with_peak:.2}x (second {with_at}), \
         budget off {without_peak:.2}x (second {without_at})"
    );
    println!(
        "peak amplification, worst 10 s window: budget on {with_window:.3}x, \
         budget off {without_window:.3}x"
    );
    println!("metrics, budget on: {with_m:?}");
    println!("metrics, budget off: {without_m:?}");

    // Every original request was offered exactly once.
    assert!(with.offered.iter().all(|&n| n == CLIENTS));
    assert_eq!(with_m.calls, SECONDS * CLIENTS);

    // What the budget promises. Over any span of its 10 s window, retries
    // are at most 20% of the requests plus its reserve (10 a second over
    // the window: 100): 1 + 0.2 + 100/10,000 = 1.21 at 1,000 requests a
    // second. And no one second may spend more than 20% of its own
    // requests plus that reserve, so the worst second is at most
    // 1 + 0.2 + 100/1,000 = 1.30, however much the healthy seconds before
    // the outage banked (without that rule the first failing second here
    // saw 3.03x).
    //
    // Tolerance 0.01 (10 calls in a second, 100 in a window): the spans
    // here are whole seconds of the dependency's clock while the budget's
    // buckets start when the policy was made, a deposit may be dated up to
    // 64 calls late (it counts in the earlier bucket), and a retry granted
    // at the end of a span reaches the dependency in the next.
    let reserve = 10.0 * 10.0;
    let window_bound = 1.0 + 0.20 + reserve / (10.0 * CLIENTS as f64);
    let second_bound = 1.0 + 0.20 + reserve / CLIENTS as f64;
    assert!(
        with_window <= window_bound + 0.01,
        "budget on: {with_window:.3}x over 10 s, more than {window_bound:.3}x"
    );
    assert!(
        with_peak <= second_bound + 0.01,
        "budget on: {with_peak:.3}x in second {with_at}, more than {second_bound:.3}x"
    );
    // The budget is used, not merely unreachable.
    assert!(with_peak >= 1.2, "budget on: only {with_peak:.3}x");
    // Without a budget, every failing request makes all 4 attempts.
    assert!(
        without_peak >= 2.0,
        "budget off: only {without_peak:.2}x at worst"
    );
    assert!(without_window >= 2.0 * with_window);
    assert_eq!(without_m.budget_denied, 0);
    assert!(with_m.budget_denied > 0);
    // After the outage both settle back to 1x.
    for s in (FAIL_UNTIL as usize + 3)..SECONDS as usize {
        assert_eq!(with.seen[s], with.offered[s], "budget on, second {s}");
        assert_eq!(
            without.seen[s], without.offered[s],
            "budget off, second {s}"
        );
    }
}

//! A deterministic simulation on tokio's paused clock: a dependency with a
//! true capacity of `C` concurrent calls, whose latency grows with its
//! queue and which sheds calls once its queue is long, under open-loop
//! offered load. Each algorithm must find `C` and stay near it; the known
//! failure modes of the anchors (Gradient2 creeping up under moderate
//! overload, Vegas ramping slowly, a limiter pinned low while it measures
//! its baseline) must not show.
//!
//! Every test prints its figures; `cargo test --test adaptive_simulation
//! -- --nocapture` shows them.

use ballast_bulkhead::adaptive::{
    AdaptiveConfig, AdaptiveLimiter, Aimd, Algorithm, Gradient2, LimitAlgorithm, Sample, Update,
    Vegas,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep};

/// The dependency's true capacity: calls it serves at once.
const C: u32 = 40;
/// How long a call takes once a server takes it.
const BASE: Duration = Duration::from_millis(10);
/// Offered calls per millisecond that the dependency could serve: C / BASE.
const CAPACITY_PER_MS: u32 = C / 10;

/// A FIFO server with `capacity` servers, each taking `BASE`; a call that
/// finds all busy waits in line (so latency = BASE × (1 + queued /
/// capacity)), and one that finds `capacity / 8` already waiting is refused
/// at once.
struct Dependency {
    servers: Semaphore,
    /// Calls in the dependency: served or waiting.
    in_system: AtomicUsize,
    capacity: usize,
    max_queue: usize,
}

#[derive(Debug)]
struct Shed;

/// Counts a call out of the dependency however it ends.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Dependency {
    fn new(capacity: u32) -> Arc<Self> {
        Arc::new(Self {
            servers: Semaphore::new(capacity as usize),
            in_system: AtomicUsize::new(0),
            capacity: capacity as usize,
            max_queue: capacity as usize / 8,
        })
    }

    async fn serve(&self) -> Result<(), Shed> {
        let queued =
            (self.in_system.fetch_add(1, Ordering::Relaxed) + 1).saturating_sub(self.capacity);
        let _leave = Leave(&self.in_system);
        if queued > self.max_queue {
            return Err(Shed);
        }
        let _server = self.servers.acquire().await.expect("never closed");
        sleep(BASE).await;
        Ok(())
    }
}

/// What one run saw: the limit every millisecond, and refusals.
struct Run {
    /// (millisecond, limit, refusals so far).
    trace: Vec<(u64, u32, u64)>,
    served: u64,
}

impl Run {
    /// The first millisecond after which the limit stayed within 20% of C.
    fn settled_at(&self) -> Option<u64> {
        let (lo, hi) = band();
        let last_out = self
            .trace
            .iter()
            .rposition(|&(_, l, _)| f64::from(l) < lo || f64::from(l) > hi);
        match last_out {
            None => Some(0),
            Some(i) if i + 1 < self.trace.len() => Some(self.trace[i + 1].0),
            Some(_) => None,
        }
    }

    /// Mean, min and max of the limit from millisecond `from` on.
    fn stats_from(&self, from: u64) -> (f64, u32, u32) {
        let after: Vec<u32> = self
            .trace
            .iter()
            .filter(|&&(t, _, _)| t >= from)
            .map(|&(_, l, _)| l)
            .collect();
        let mean = after.iter().map(|&l| f64::from(l)).sum::<f64>() / after.len() as f64;
        (
            mean,
            *after.iter().min().unwrap(),
            *after.iter().max().unwrap(),
        )
    }

    /// The last millisecond at which a call was refused.
    fn last_refusal(&self) -> Option<u64> {
        self.trace
            .windows(2)
            .filter(|w| w[1].2 > w[0].2)
            .map(|w| w[1].0)
            .next_back()
    }
}

fn band() -> (f64, f64) {
    (f64::from(C) * 0.8, f64::from(C) * 1.2)
}

/// Offers `per_ms` calls every millisecond for `ms` milliseconds through
/// `limiter` to a fresh dependency of capacity `C`, recording the limit
/// each millisecond.
async fn run(limiter: &AdaptiveLimiter, per_ms: u32, ms: u64) -> Run {
    run_with_capacity(limiter, per_ms, ms, C).await
}

async fn run_with_capacity(limiter: &AdaptiveLimiter, per_ms: u32, ms: u64, capacity: u32) -> Run {
    let dependency = Dependency::new(capacity);
    let served = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut trace = Vec::with_capacity(ms as usize);
    for tick in 0..ms {
        for _ in 0..per_ms {
            let (limiter, dependency, served) =
                (limiter.clone(), dependency.clone(), served.clone());
            tokio::spawn(async move {
                if limiter.call(|| dependency.serve()).await.is_ok() {
                    served.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let s = limiter.snapshot();
        trace.push((tick, s.limit, s.rejected));
        tokio::time::sleep_until(start + Duration::from_millis(tick + 1)).await;
    }
    Run {
        trace,
        served: served.load(Ordering::Relaxed) as u64,
    }
}

fn limiter(algorithm: impl Into<Algorithm>) -> AdaptiveLimiter {
    AdaptiveLimiter::new(
        AdaptiveConfig::builder()
            .algorithm(algorithm)
            .build()
            .unwrap(),
    )
}

/// Runs 3× overload for 20s and checks the limit settles within 20% of C
/// by 5s and stays there; prints the figures.
async fn settles_near_capacity(name: &str, limiter: AdaptiveLimiter) {
    const MS: u64 = 20_000;
    let run = run(&limiter, 3 * CAPACITY_PER_MS, MS).await;
    let settled = run.settled_at().unwrap_or_else(|| {
        panic!(
            "{name}: never settled within 20% of {C}; last limits {:?}",
            &run.trace[run.trace.len() - 20..]
        )
    });
    let (mean, min, max) = run.stats_from(settled);
    let snap = limiter.snapshot();
    println!(
        "{name}: C={C}, offered 3x; settled after {settled}ms; limit after settling \
         mean {mean:.1}, min {min}, max {max}; served {} of {} capacity; \
         {} windows, {} limit changes, min rtt {:?}",
        run.served,
        u64::from(C) * MS / 10,
        snap.windows,
        snap.limit_changes,
        snap.min_rtt,
    );
    assert!(
        settled <= 5_000,
        "{name}: took {settled}ms to settle within 20% of {C}"
    );
    // The dependency stays busy: at least 90% of its capacity is used.
    assert!(
        run.served * 10 >= u64::from(C) * MS / 10 * 9,
        "{name}: served only {}",
        run.served
    );
}

#[tokio::test(start_paused = true)]
async fn aimd_settles_within_20_percent_of_capacity_and_stays_there() {
    settles_near_capacity("aimd", limiter(Aimd::default())).await;
}

#[tokio::test(start_paused = true)]
async fn vegas_settles_within_20_percent_of_capacity_and_stays_there() {
    settles_near_capacity("vegas", limiter(Vegas::default())).await;
}

#[tokio::test(start_paused = true)]
async fn gradient2_settles_within_20_percent_of_capacity_and_stays_there() {
    settles_near_capacity("gradient2", limiter(Gradient2::default())).await;
}

/// Offers 1.5× the capacity for a minute; returns the mean limit over the
/// first 20s after settling (or from 5s if it never settles), and the
/// mean and max over the last 10s.
async fn moderate_overload(limiter: AdaptiveLimiter) -> (Option<u64>, f64, f64, u32) {
    const MS: u64 = 60_000;
    let run = run(&limiter, CAPACITY_PER_MS * 3 / 2, MS).await;
    let settled = run.settled_at();
    let early = Run {
        trace: run.trace[..20_000].to_vec(),
        served: 0,
    };
    let (first_mean, _, _) = early.stats_from(settled.unwrap_or(5_000));
    let (last_mean, _, last_max) = run.stats_from(MS - 10_000);
    (settled, first_mean, last_mean, last_max)
}

#[tokio::test(start_paused = true)]
async fn gradient2_under_moderate_overload_does_not_creep_up() {
    // 1.5× the capacity for a minute: the original Gradient2's long RTT
    // drifts up with the queue and the limit grows without bound (PR #134).
    let (settled, first, last, max) = moderate_overload(limiter(Gradient2::default())).await;
    println!(
        "gradient2, offered 1.5x for 60s: settled after {settled:?}ms; mean limit \
         {first:.1} in the first 20s, {last:.1} (max {max}) in the last 10s"
    );
    let settled = settled.expect("settled within 20% of C");
    assert!(settled <= 5_000, "took {settled}ms to settle");
    assert!(
        last <= first + 1.0,
        "the limit crept up from {first:.1} to {last:.1}"
    );
}

/// The Java original's Gradient2 (defaults: tolerance 1.5, smoothing 0.2,
/// queue size 4, long window 600, drops ignored), run once per window: the
/// control for the test above, showing that it can fail.
struct OriginalGradient2 {
    long: Option<f64>,
}

impl LimitAlgorithm for OriginalGradient2 {
    fn name(&self) -> &'static str {
        "original gradient2"
    }

    fn update(&mut self, limit: f64, sample: &Sample) -> Update {
        let short = sample.rtt.as_secs_f64();
        let mut long = match self.long {
            None => short,
            Some(long) => long + (short - long) * 2.0 / 601.0,
        };
        if long / short > 2.0 {
            long *= 0.95;
        }
        self.long = Some(long);
        if f64::from(sample.in_flight) < limit / 2.0 {
            return Update::new(limit, "app-limited");
        }
        let gradient = (1.5 * long / short).clamp(0.5, 1.0);
        let target = limit * gradient + 4.0;
        Update::new(limit * 0.8 + target * 0.2, "gradient")
    }
}

#[tokio::test(start_paused = true)]
async fn the_original_gradient2_grows_far_past_capacity_under_the_same_load() {
    let original = AdaptiveLimiter::with_algorithm(
        AdaptiveConfig::default(),
        OriginalGradient2 { long: None },
    );
    let (settled, first, last, max) = moderate_overload(original).await;
    println!(
        "original gradient2 (control), offered 1.5x for 60s: settled {settled:?}; mean \
         limit {first:.1} early, {last:.1} (max {max}) in the last 10s"
    );
    assert!(
        last > f64::from(C) * 1.2,
        "the original settled at {last:.1}, within 20% of {C}"
    );
}

/// How long the limit takes to first reach 80% of a capacity of 400 from
/// the default initial limit (20), under 3× overload.
async fn time_to_reach_a_large_capacity(vegas: Vegas) -> u64 {
    const BIG: u32 = 400;
    let limiter = limiter(vegas);
    let run = run_with_capacity(&limiter, 3 * BIG / 10, 1_000, BIG).await;
    run.trace
        .iter()
        .find(|&&(_, l, _)| f64::from(l) >= f64::from(BIG) * 0.8)
        .map_or(u64::MAX, |&(t, _, _)| t)
}

#[tokio::test(start_paused = true)]
async fn vegas_reaches_a_large_capacity_quickly_thanks_to_slow_start() {
    // concurrency-limits #35: without slow start Vegas adds a few calls per
    // update and takes long to reach a large capacity.
    let with = time_to_reach_a_large_capacity(Vegas::default()).await;
    let without =
        time_to_reach_a_large_capacity(Vegas::builder().slow_start(false).build().unwrap()).await;
    println!(
        "vegas from 20 to 80% of a capacity of 400: {with}ms with slow start, {without}ms without"
    );
    assert!(with <= 100, "slow start took {with}ms");
    assert!(
        with * 3 <= without,
        "slow start {with}ms, without {without}ms"
    );
}

/// Offers 75% of the capacity for 30s: refusals may happen only while the
/// limit first climbs from 20 to the 30 calls offered, never later, and the
/// limit never falls below what is offered (no pinning low to measure a
/// baseline, the trap of envoy #8337). Returns when the last refusal was
/// and the lowest limit after startup.
async fn below_capacity(name: &str, limiter: &AdaptiveLimiter) -> (u64, u32) {
    let run = run(limiter, OFFERED_BELOW, 30_000).await;
    let last = run.last_refusal().unwrap_or(0);
    let (_, min, max) = run.stats_from(STARTUP);
    let s = limiter.snapshot();
    println!(
        "{name}, offered 0.75x for 30s: {} refused, the last at {last}ms; \
         limit after {STARTUP}ms min {min}, max {max}; {} windows",
        s.rejected, s.windows
    );
    (last, min)
}

const STARTUP: u64 = 300;
const OFFERED_BELOW: u32 = 3 * CAPACITY_PER_MS / 4;

async fn below_capacity_refuses_only_at_startup(name: &str, limiter: AdaptiveLimiter) {
    let (last, min) = below_capacity(name, &limiter).await;
    assert!(last <= STARTUP, "{name}: still refusing at {last}ms");
    let offered = OFFERED_BELOW * 10;
    assert!(
        min >= offered,
        "{name}: limit fell to {min} under {offered} offered calls"
    );
}

#[tokio::test(start_paused = true)]
async fn below_capacity_aimd_refuses_only_while_it_first_climbs() {
    below_capacity_refuses_only_at_startup("aimd", limiter(Aimd::default())).await;
}

#[tokio::test(start_paused = true)]
async fn below_capacity_gradient2_refuses_only_while_it_first_climbs() {
    below_capacity_refuses_only_at_startup("gradient2", limiter(Gradient2::default())).await;
}

/// Vegas that measures its baseline the way envoy's gradient controller
/// does (envoy #8337): every 50 windows, the limit drops to 3 for a
/// window. The control for the tests around it, showing they can fail.
struct PinsLow {
    vegas: Vegas,
    windows: u32,
    back: Option<f64>,
}

impl LimitAlgorithm for PinsLow {
    fn name(&self) -> &'static str {
        "vegas pinning low"
    }

    fn update(&mut self, limit: f64, sample: &Sample) -> Update {
        if let Some(back) = self.back.take() {
            return Update::new(back, "measured");
        }
        self.windows += 1;
        if self.windows % 50 == 0 {
            self.back = Some(limit);
            return Update::new(3.0, "measuring min rtt");
        }
        self.vegas.update(limit, sample)
    }
}

#[tokio::test(start_paused = true)]
async fn a_limiter_pinned_low_to_measure_its_baseline_is_caught() {
    let pins = PinsLow {
        vegas: Vegas::default(),
        windows: 0,
        back: None,
    };
    let limiter = AdaptiveLimiter::with_algorithm(AdaptiveConfig::default(), pins);
    let (last, min) = below_capacity("vegas pinning low (control)", &limiter).await;
    assert!(last > STARTUP, "no refusal after startup");
    assert!(
        min < OFFERED_BELOW * 10,
        "never pinned below the offered load"
    );
}

/// Vegas, counting its baseline probes.
struct CountProbes {
    vegas: Vegas,
    probes: Arc<AtomicUsize>,
}

impl LimitAlgorithm for CountProbes {
    fn name(&self) -> &'static str {
        "vegas"
    }

    fn update(&mut self, limit: f64, sample: &Sample) -> Update {
        let update = self.vegas.update(limit, sample);
        if update.why == "baseline probe" {
            self.probes.fetch_add(1, Ordering::Relaxed);
        }
        update
    }
}

/// A limiter with Vegas probing its baseline every 50 windows, and the
/// count of probes.
fn probing_vegas(max_limit: u32, slow_start: bool) -> (AdaptiveLimiter, Arc<AtomicUsize>) {
    let probes = Arc::new(AtomicUsize::new(0));
    let vegas = Vegas::builder().probe_interval(50).slow_start(slow_start);
    let algorithm = CountProbes {
        vegas: vegas.build().unwrap(),
        probes: probes.clone(),
    };
    let config = AdaptiveConfig::builder()
        .max_limit(max_limit)
        .build()
        .unwrap();
    (AdaptiveLimiter::with_algorithm(config, algorithm), probes)
}

#[tokio::test(start_paused = true)]
async fn below_capacity_vegas_baseline_probes_refuse_nothing() {
    // A limit capped at 50 under 30 offered calls is used (no app-limited
    // pause), so Vegas probes every 50 windows: dozens of probes in the run.
    // (With slow start on, it would still be in slow start, since nothing
    // ever queues, and slow start does not probe.)
    let (limiter, probes) = probing_vegas(50, false);
    below_capacity_refuses_only_at_startup("vegas (probe every 50 windows)", limiter).await;
    let probes = probes.load(Ordering::Relaxed);
    println!("vegas below capacity: {probes} baseline probes");
    assert!(probes >= 20, "only {probes} probes");
}

#[tokio::test(start_paused = true)]
async fn vegas_with_frequent_baseline_probes_still_stays_near_capacity() {
    // Above capacity a probe refuses only what would have queued, and the
    // limit comes back: it stays within 20% of C throughout.
    let (limiter, probes) = probing_vegas(1000, true);
    settles_near_capacity("vegas (probe every 50 windows)", limiter).await;
    let probes = probes.load(Ordering::Relaxed);
    println!("vegas above capacity: {probes} baseline probes");
    assert!(probes >= 20, "only {probes} probes");
}

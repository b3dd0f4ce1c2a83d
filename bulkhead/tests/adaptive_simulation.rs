//! A deterministic simulation on tokio's paused clock: a dependency with a
//! true capacity of `C` concurrent calls, whose latency grows with its
//! queue and which sheds calls once its queue is long, under open-loop
//! offered load. Each algorithm must find `C` and stay near it; the known
//! failure modes of the anchors (Gradient2 creeping up under moderate
//! overload, Vegas ramping slowly, a limiter pinned low while it measures
//! its baseline) must not show.
//!
//! A second dependency queues instead of shedding, and its capacity falls
//! from 100 to 25 (or rises from 25 to 100) under load: every algorithm
//! must settle within 20% of the new capacity within 5s of the change
//! (AIMD, which reads only loss, with a timeout just above the no-load
//! round trip), and no baseline round trip may follow the queue.
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
        self.settled_near(C, 0)
    }

    /// The first millisecond from `from` on after which the limit stayed
    /// within 20% of `capacity` to the end of the run.
    fn settled_near(&self, capacity: u32, from: u64) -> Option<u64> {
        let (lo, hi) = band_of(capacity);
        let last_out = self
            .trace
            .iter()
            .rposition(|&(t, l, _)| t < from || f64::from(l) < lo || f64::from(l) > hi);
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

fn band_of(capacity: u32) -> (f64, f64) {
    (f64::from(capacity) * 0.8, f64::from(capacity) * 1.2)
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

// A dependency that queues instead of shedding, and whose capacity changes
// under load (issue 11): the case the dependency above, which sheds once
// its queue is an eighth of its capacity, never runs. The limit must follow
// the capacity down (100 to 25) and up (25 to 100) and settle within 20% of
// the new capacity within `SETTLE_MS` of the change.

/// The larger of the two capacities.
const HIGH: u32 = 100;
/// The smaller one.
const LOW: u32 = 25;
/// When the capacity changes.
const CHANGE_AT: u64 = 10_000;
/// How long the run goes on after the change.
const AFTER_CHANGE: u64 = 10_000;
/// The limit must settle within 20% of the new capacity this soon after
/// the change, and stay there to the end of the run.
const SETTLE_MS: u64 = 5_000;
/// AIMD reads no latency, and this dependency never fails: its timeout is
/// set just above the no-load round trip (5% over `BASE`), below the
/// latency of a queue of 20% of the capacity (12ms) with room for the
/// window or two the limit grows before a window's mean shows the queue,
/// as `AimdBuilder::timeout`'s docs advise ("near the latency at which the
/// dependency is known to be in trouble").
const AIMD_TIMEOUT: Duration = Duration::from_micros(10_500);

/// A FIFO server that never sheds: a call that finds every server busy
/// waits in line however long the line is (latency = `BASE` × calls in
/// the system / capacity).
struct Queueing {
    servers: Semaphore,
}

impl Queueing {
    fn new(capacity: u32) -> Arc<Self> {
        Arc::new(Self {
            servers: Semaphore::new(capacity as usize),
        })
    }

    async fn serve(&self) -> Result<(), Shed> {
        let _server = self.servers.acquire().await.expect("never closed");
        sleep(BASE).await;
        Ok(())
    }

    /// Changes the capacity from `from` to `to`: a rise adds servers at
    /// once; a drop takes servers away as they come free (first in line,
    /// ahead of the calls that arrive after it).
    fn change(self: &Arc<Self>, from: u32, to: u32) {
        if to >= from {
            self.servers.add_permits((to - from) as usize);
        } else {
            let this = self.clone();
            tokio::spawn(async move {
                this.servers
                    .acquire_many(from - to)
                    .await
                    .expect("never closed")
                    .forget();
            });
        }
    }
}

/// Offers `2 × HIGH / BASE` calls a second (twice the larger capacity, 8×
/// the smaller) through `limiter` to a queueing dependency of capacity
/// `from`, which becomes `to` at `CHANGE_AT`; records the limit each
/// millisecond.
async fn run_capacity_change(limiter: &AdaptiveLimiter, from: u32, to: u32) -> Run {
    let per_ms = 2 * HIGH / 10;
    let dependency = Queueing::new(from);
    let served = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let ms = CHANGE_AT + AFTER_CHANGE;
    let mut trace = Vec::with_capacity(ms as usize);
    for tick in 0..ms {
        if tick == CHANGE_AT {
            dependency.change(from, to);
        }
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

/// An algorithm that publishes its baseline round trip (Gradient2's long
/// RTT, Vegas's no-load RTT) after every update, for the figures.
struct Watched<A> {
    inner: A,
    baseline: fn(&A) -> Option<Duration>,
    seen: Arc<std::sync::Mutex<Option<Duration>>>,
}

impl<A: LimitAlgorithm> LimitAlgorithm for Watched<A> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn update(&mut self, limit: f64, sample: &Sample) -> Update {
        let update = self.inner.update(limit, sample);
        *self.seen.lock().unwrap() = (self.baseline)(&self.inner);
        update
    }
}

/// Runs the capacity change `from` → `to` under `algorithm`, prints the
/// figures and checks the limit settles within 20% of `to` within
/// `SETTLE_MS` of the change and stays there.
async fn follows_a_capacity_change<A: LimitAlgorithm>(
    name: &str,
    algorithm: A,
    baseline: fn(&A) -> Option<Duration>,
    from: u32,
    to: u32,
) {
    let seen = Arc::new(std::sync::Mutex::new(None));
    let watched = Watched {
        inner: algorithm,
        baseline,
        seen: seen.clone(),
    };
    let limiter = AdaptiveLimiter::with_algorithm(AdaptiveConfig::default(), watched);
    let run = run_capacity_change(&limiter, from, to).await;
    let before = Run {
        trace: run.trace[..CHANGE_AT as usize].to_vec(),
        served: 0,
    }
    .settled_near(from, 0);
    let settled = run.settled_near(to, CHANGE_AT);
    let (mean, min, max) = run.stats_from(settled.unwrap_or(CHANGE_AT + SETTLE_MS));
    let (lo, hi) = band_of(to);
    let baseline = *seen.lock().unwrap();
    println!(
        "{name}, queueing dependency, capacity {from} -> {to} at {CHANGE_AT}ms: \
         settled before the change after {before:?}ms; after the change: settled \
         {:?}ms after it, limit mean {mean:.1}, min {min}, max {max} (band {lo}..={hi}); \
         baseline rtt at the end {baseline:?}; served {}",
        settled.map(|t| t - CHANGE_AT),
        run.served,
    );
    let settled = settled.unwrap_or_else(|| {
        panic!(
            "{name}: never settled within 20% of {to} after the change; \
             limit mean {mean:.1}, min {min}, max {max} from {}ms",
            CHANGE_AT + SETTLE_MS
        )
    });
    assert!(
        settled - CHANGE_AT <= SETTLE_MS,
        "{name}: took {}ms after the change to settle within 20% of {to}",
        settled - CHANGE_AT
    );
    // The baseline did not follow the queue: it is still about `BASE`.
    if let Some(baseline) = baseline {
        assert!(
            baseline <= BASE.mul_f64(1.1),
            "{name}: the baseline round trip drifted to {baseline:?}"
        );
    }
}

fn aimd_below_queueing() -> Aimd {
    Aimd::builder().timeout(AIMD_TIMEOUT).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn queueing_capacity_drop_gradient2_settles_near_the_new_capacity() {
    // The case of issue 11: a baseline taken from the window after a cut
    // (clamped at half) measured our own queue, and the limit settled near
    // 2.3x the new capacity with the long RTT doubled.
    let g2 = Gradient2::default();
    follows_a_capacity_change("gradient2", g2, Gradient2::long_rtt, HIGH, LOW).await;
}

#[tokio::test(start_paused = true)]
async fn queueing_capacity_rise_gradient2_settles_near_the_new_capacity() {
    let g2 = Gradient2::default();
    follows_a_capacity_change("gradient2", g2, Gradient2::long_rtt, LOW, HIGH).await;
}

#[tokio::test(start_paused = true)]
async fn queueing_capacity_drop_vegas_settles_near_the_new_capacity() {
    let vegas = Vegas::default();
    follows_a_capacity_change("vegas", vegas, Vegas::rtt_noload, HIGH, LOW).await;
}

#[tokio::test(start_paused = true)]
async fn queueing_capacity_rise_vegas_settles_near_the_new_capacity() {
    let vegas = Vegas::default();
    follows_a_capacity_change("vegas", vegas, Vegas::rtt_noload, LOW, HIGH).await;
}

#[tokio::test(start_paused = true)]
async fn queueing_capacity_drop_aimd_with_a_timeout_below_the_queueing_latency_settles() {
    let aimd = aimd_below_queueing();
    follows_a_capacity_change("aimd", aimd, |_| None, HIGH, LOW).await;
}

#[tokio::test(start_paused = true)]
async fn queueing_capacity_rise_aimd_with_a_timeout_below_the_queueing_latency_settles() {
    let aimd = aimd_below_queueing();
    follows_a_capacity_change("aimd", aimd, |_| None, LOW, HIGH).await;
}

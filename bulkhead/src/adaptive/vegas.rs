//! [`Vegas`]: queue size estimated from the rise of the round trip over
//! the no-load round trip, with a slow start.

use super::algorithm::{LimitAlgorithm, Sample, Update};
use ballast_core::ConfigError;
use std::time::Duration;

const COMPONENT: &str = "adaptive vegas";

/// TCP Vegas applied to concurrency (Netflix concurrency-limits'
/// `VegasLimit`): the calls queued at the dependency are estimated as
/// `limit × (1 − rtt_noload / rtt)`, and the limit is steered to keep that
/// queue between `alpha` and `beta` (both times `log10(limit)`, at least
/// one): grow fast while nothing queues, a little while the queue is
/// short, shrink while it is long, and shrink on a drop.
///
/// Use it when latency rises with load before anything fails: it settles a
/// few calls above the dependency's capacity, with a short queue, without
/// waiting for errors.
///
/// # Unlike the Java original
///
/// - **Slow start** (concurrency-limits #35): from a low initial limit the
///   original adds a few calls per update and takes long to reach a large
///   capacity. Here the limit doubles each window while no queueing is
///   seen; the first queueing ends slow start and drops the limit to the
///   queue-free estimate `limit × rtt_noload / rtt` (what the dependency
///   served without queueing), as TCP halves after its slow start.
/// - **Baseline probe without pinning low** (the trap of envoy #8337): the
///   no-load round trip is the shortest window round trip seen; every
///   `probe_interval` windows it is measured again, by holding the limit
///   for one window at the queue-free estimate (never below half the
///   limit), not at a tiny value. Below capacity the estimate *is* the
///   limit, so a probe refuses nothing; above it, it refuses only calls that
///   would have queued. The window measured becomes the new baseline (so a
///   dependency that became slower for good is followed) and the limit
///   returns to where it was. The original instead resets the baseline to
///   the current, queue-inflated round trip, which lets the limit climb.
///   The window after a probe is not judged: it starts with the probe's
///   shorter queue and would read as room to grow.
/// - A window's round trip is its mean; dropped calls never update the
///   baseline (a fast failure is not a fast dependency).
#[derive(Debug, Clone, PartialEq)]
pub struct Vegas {
    alpha: f64,
    beta: f64,
    smoothing: f64,
    slow_start: bool,
    probe_interval: u32,
    /// The shortest window round trip seen (since the last probe).
    rtt_noload: Option<Duration>,
    /// Still doubling: no queueing seen yet.
    in_slow_start: bool,
    /// Windows since the last probe.
    windows: u32,
    /// Probing: the limit to return to after the probe window.
    probing: Option<f64>,
    /// Back from a probe: the next window is not judged.
    settling: bool,
}

/// `log10(limit)` as an integer, at least 1 (as the Java original's
/// `Log10RootFunction`), so a limit under 100 moves in steps of one.
fn log10(limit: f64) -> f64 {
    limit.log10().floor().max(1.0)
}

impl Vegas {
    /// A builder with the defaults of the Java original (alpha 3, beta 6,
    /// no smoothing), slow start on, and a baseline probe every 1000
    /// windows.
    pub fn builder() -> VegasBuilder {
        VegasBuilder::default()
    }

    /// Below `alpha × log10(limit)` queued calls the limit grows.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Above `beta × log10(limit)` queued calls the limit shrinks.
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// How far each update moves toward its target.
    pub fn smoothing(&self) -> f64 {
        self.smoothing
    }

    /// Whether the limit starts by doubling until queueing shows.
    pub fn slow_start(&self) -> bool {
        self.slow_start
    }

    /// Windows between two measurements of the no-load round trip (0:
    /// never).
    pub fn probe_interval(&self) -> u32 {
        self.probe_interval
    }

    /// The no-load round trip measured so far.
    pub fn rtt_noload(&self) -> Option<Duration> {
        self.rtt_noload
    }

    /// Whether the limit is still doubling.
    pub fn in_slow_start(&self) -> bool {
        self.in_slow_start
    }

    fn smooth(&self, limit: f64, target: f64) -> f64 {
        (1.0 - self.smoothing) * limit + self.smoothing * target
    }
}

impl Default for Vegas {
    fn default() -> Self {
        Vegas::builder().build().expect("the defaults are valid")
    }
}

impl LimitAlgorithm for Vegas {
    fn name(&self) -> &'static str {
        "vegas"
    }

    fn update(&mut self, limit: f64, sample: &Sample) -> Update {
        if let Some(back) = self.probing.take() {
            // The window just measured ran at the queue-free estimate: its
            // round trip is the baseline now, even if it is longer.
            if !sample.dropped {
                self.rtt_noload = Some(sample.rtt);
            }
            self.windows = 0;
            self.settling = true;
            return Update::new(back, "baseline probe done");
        }
        if std::mem::take(&mut self.settling) {
            // The first window back at the old limit started with the
            // probe's shorter queue, and would read as no queueing.
            return Update::new(limit, "settling after the probe");
        }
        self.windows = self.windows.saturating_add(1);
        if sample.dropped {
            self.in_slow_start = false;
            return Update::new(self.smooth(limit, limit - log10(limit)), "drop");
        }
        let rtt = sample.rtt.max(Duration::from_nanos(1));
        let noload = match self.rtt_noload {
            Some(n) if n <= rtt => n,
            _ => {
                self.rtt_noload = Some(rtt);
                rtt
            }
        };
        // The queue-free share of the limit: what the dependency served
        // without queueing.
        let queue_free = limit * noload.as_secs_f64() / rtt.as_secs_f64();
        if f64::from(sample.in_flight) * 2.0 < limit {
            return Update::new(limit, "app-limited");
        }
        // Less a hair, so that an exact 2.0 computed as 2.0000000001 is 2.
        let queue = (limit - queue_free - 1e-9).ceil();
        let log = log10(limit);
        if self.in_slow_start {
            if queue <= log {
                return Update::new(limit * 2.0, "slow start");
            }
            self.in_slow_start = false;
            return Update::new(queue_free.max(limit / 2.0), "slow start over: queueing");
        }
        if self.probe_interval > 0 && self.windows >= self.probe_interval {
            let target = self.smooth(limit, limit);
            self.probing = Some(target);
            return Update::new(queue_free.max(limit / 2.0), "baseline probe");
        }
        let (target, why) = if queue <= log {
            (limit + self.beta * log, "no queueing")
        } else if queue < self.alpha * log {
            (limit + log, "short queue")
        } else if queue > self.beta * log {
            (limit - log, "long queue")
        } else {
            return Update::new(limit, "queue within bounds");
        };
        Update::new(self.smooth(limit, target), why)
    }
}

/// Builds a [`Vegas`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct VegasBuilder {
    alpha: f64,
    beta: f64,
    smoothing: f64,
    slow_start: bool,
    probe_interval: u32,
}

impl Default for VegasBuilder {
    fn default() -> Self {
        Self {
            alpha: 3.0,
            beta: 6.0,
            smoothing: 1.0,
            slow_start: true,
            probe_interval: 1000,
        }
    }
}

impl VegasBuilder {
    /// Below `alpha × log10(limit)` queued calls the limit grows (default
    /// 3; must be positive and below `beta`).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Above `beta × log10(limit)` queued calls the limit shrinks (default
    /// 6; must be above `alpha`).
    pub fn beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }

    /// How far each update moves toward its target: 1 jumps there, 0.5
    /// goes half way (default 1; must be in (0, 1]).
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// Whether the limit doubles each window until queueing is first seen
    /// (default on).
    pub fn slow_start(mut self, on: bool) -> Self {
        self.slow_start = on;
        self
    }

    /// How many windows pass between two measurements of the no-load round
    /// trip (default 1000; 0 never measures again, keeping the shortest
    /// round trip ever seen).
    pub fn probe_interval(mut self, windows: u32) -> Self {
        self.probe_interval = windows;
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<Vegas, ConfigError> {
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(ConfigError::new(
                COMPONENT,
                "alpha",
                format!("must be positive, got {}", self.alpha),
            ));
        }
        if !(self.beta > self.alpha && self.beta.is_finite()) {
            return Err(ConfigError::new(
                COMPONENT,
                "beta",
                format!("must be above alpha ({}), got {}", self.alpha, self.beta),
            ));
        }
        if !(self.smoothing > 0.0 && self.smoothing <= 1.0) {
            return Err(ConfigError::new(
                COMPONENT,
                "smoothing",
                format!("must be in (0, 1], got {}", self.smoothing),
            ));
        }
        Ok(Vegas {
            alpha: self.alpha,
            beta: self.beta,
            smoothing: self.smoothing,
            slow_start: self.slow_start,
            probe_interval: self.probe_interval,
            rtt_noload: None,
            in_slow_start: self.slow_start,
            windows: 0,
            probing: None,
            settling: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rtt_ms: u64, in_flight: u32) -> Sample {
        at_us(rtt_ms * 1000, in_flight)
    }

    fn at_us(rtt_us: u64, in_flight: u32) -> Sample {
        Sample::new(Duration::from_micros(rtt_us), in_flight, 10, 0, 0)
    }

    #[test]
    fn slow_start_doubles_until_queueing_then_drops_to_the_queue_free_share() {
        let mut v = Vegas::default();
        assert_eq!(v.update(10.0, &at(10, 10)).limit, 20.0);
        assert_eq!(v.update(20.0, &at(10, 20)).limit, 40.0);
        // 80 in flight take twice the no-load time: 40 were queued.
        let over = v.update(80.0, &at(20, 80));
        assert_eq!((over.limit, over.why), (40.0, "slow start over: queueing"));
        assert!(!v.in_slow_start());
    }

    #[test]
    fn without_slow_start_the_limit_grows_by_beta() {
        let mut v = Vegas::builder().slow_start(false).build().unwrap();
        assert_eq!(v.update(10.0, &at(10, 10)).limit, 16.0);
    }

    #[test]
    fn keeps_the_queue_between_alpha_and_beta() {
        let mut v = Vegas::builder().slow_start(false).build().unwrap();
        v.update(40.0, &at(10, 40));
        // Capacity 40 at 10ms: 2 queued (< alpha 3): grow by one.
        assert_eq!(v.update(42.0, &at_us(10_500, 42)).limit, 43.0);
        // 5 queued: stay.
        assert_eq!(v.update(45.0, &at_us(11_250, 45)).limit, 45.0);
        // 10 queued (> beta 6): shrink by one.
        assert_eq!(v.update(50.0, &at_us(12_500, 50)).limit, 49.0);
    }

    #[test]
    fn a_drop_shrinks_and_never_sets_the_baseline() {
        let mut v = Vegas::default();
        v.update(20.0, &at(10, 20));
        let dropped = Sample::new(Duration::from_millis(1), 40, 10, 3, 0);
        assert_eq!(v.update(40.0, &dropped).limit, 39.0);
        assert_eq!(v.rtt_noload(), Some(Duration::from_millis(10)));
    }

    #[test]
    fn the_baseline_probe_holds_the_queue_free_share_for_one_window() {
        let mut v = Vegas::builder()
            .slow_start(false)
            .probe_interval(2)
            .build()
            .unwrap();
        v.update(40.0, &at(10, 40));
        // 45 in flight at 12ms: the probe asks for 45 × 10/12 = 37.5.
        let probe = v.update(45.0, &at(12, 45));
        assert_eq!(probe.why, "baseline probe");
        assert!((probe.limit - 37.5).abs() < 1e-9, "{probe:?}");
        // The probe window measured 11ms: that is the baseline now.
        let back = v.update(37.0, &at(11, 37));
        assert_eq!((back.limit, back.why), (45.0, "baseline probe done"));
        assert_eq!(v.rtt_noload(), Some(Duration::from_millis(11)));
        // The first window back is not judged: it started with a short
        // queue.
        let settling = v.update(45.0, &at(11, 45));
        assert_eq!(
            (settling.limit, settling.why),
            (45.0, "settling after the probe")
        );
        assert_eq!(v.update(45.0, &at(11, 45)).why, "no queueing");
    }

    #[test]
    fn below_capacity_a_probe_keeps_the_limit() {
        let mut v = Vegas::builder()
            .slow_start(false)
            .probe_interval(1)
            .build()
            .unwrap();
        // 40 in flight under a limit of 60 see no queueing: the probe
        // keeps the whole limit, refusing nothing.
        let probe = v.update(60.0, &at(10, 40));
        assert_eq!((probe.limit, probe.why), (60.0, "baseline probe"));
        let back = v.update(60.0, &at(10, 40));
        assert_eq!((back.limit, back.why), (60.0, "baseline probe done"));
    }

    #[test]
    fn bad_settings_are_config_errors() {
        assert_eq!(
            Vegas::builder().alpha(0.0).build().unwrap_err().field(),
            "alpha"
        );
        assert_eq!(
            Vegas::builder().beta(2.0).build().unwrap_err().field(),
            "beta"
        );
        assert_eq!(
            Vegas::builder().smoothing(1.5).build().unwrap_err().field(),
            "smoothing"
        );
    }
}

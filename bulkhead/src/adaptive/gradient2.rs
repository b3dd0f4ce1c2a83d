//! [`Gradient2`]: the limit scaled by how far the round trip has risen
//! over its long-term baseline.

use super::algorithm::{LimitAlgorithm, Sample, Update};
use ballast_core::ConfigError;
use std::collections::VecDeque;
use std::time::Duration;

const COMPONENT: &str = "adaptive gradient2";

/// Netflix concurrency-limits' `Gradient2Limit`: each window the limit is
/// multiplied by the gradient `tolerance × long_rtt / short_rtt` (kept in
/// [0.5, 1]), where `short_rtt` is the window's round trip and `long_rtt`
/// a slow average of it; while the gradient is 1 (no queueing) a few calls
/// (`queue_size`) are added so the limit keeps probing upward. The result
/// is smoothed (`smoothing`).
///
/// Use it when latency is the first sign of overload and a steady, smooth
/// limit matters more than reaching capacity in the fewest windows.
///
/// # Unlike the Java original
///
/// The original grows without bound under moderate overload
/// (concurrency-limits PR #134): its long RTT is an average of the short
/// one, so it drifts up with the very queue the limit builds, the gradient
/// stays near 1 and `queue_size` is added again and again. Here:
///
/// - the long RTT follows the *shortest* window round trip of the last
///   `baseline_windows` windows, not every window: a limit steered to the
///   dependency's capacity dips to it every few windows, and those dips show
///   the round trip without our own queue. It falls to a shorter round trip
///   at once and rises toward a longer one only as an average over
///   `long_window` windows, so a dependency that became slower for good is
///   still followed, slowly;
/// - `queue_size` is added only when the gradient is 1, never on top of a
///   gradient that is already shrinking the limit (PR #134);
/// - the limit grows only while it is used (half of it or more in flight);
/// - a window with a drop scales the limit by 0.5 before smoothing (the
///   original ignores drops);
/// - the default `tolerance` is 1 (the original's 1.5 lets the limit settle
///   at 1.5× the capacity, a third of every call queued).
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient2 {
    smoothing: f64,
    tolerance: f64,
    queue_size: f64,
    long_window: u32,
    baseline_windows: usize,
    /// The last `baseline_windows` window round trips.
    recent: VecDeque<Duration>,
    long_rtt: Option<Duration>,
}

impl Gradient2 {
    /// A builder with the defaults: smoothing 0.2, tolerance 1, queue size
    /// 4, long window 600 windows, baseline over the last 10 windows.
    pub fn builder() -> Gradient2Builder {
        Gradient2Builder::default()
    }

    /// The long-term round trip: the baseline the window's is compared to.
    pub fn long_rtt(&self) -> Option<Duration> {
        self.long_rtt
    }

    fn smooth(&self, limit: f64, target: f64) -> f64 {
        (1.0 - self.smoothing) * limit + self.smoothing * target
    }

    fn follow(&mut self, short: Duration) -> Duration {
        if self.recent.len() == self.baseline_windows {
            self.recent.pop_front();
        }
        self.recent.push_back(short);
        let candidate = self.recent.iter().min().copied().unwrap_or(short);
        let long = match self.long_rtt {
            Some(long) if candidate >= long => {
                let step = (candidate - long).as_secs_f64() / f64::from(self.long_window);
                long + Duration::from_secs_f64(step)
            }
            // The first window, or the dependency got faster: follow at once.
            _ => candidate,
        };
        self.long_rtt = Some(long);
        long
    }
}

impl Default for Gradient2 {
    fn default() -> Self {
        Gradient2::builder()
            .build()
            .expect("the defaults are valid")
    }
}

impl LimitAlgorithm for Gradient2 {
    fn name(&self) -> &'static str {
        "gradient2"
    }

    fn update(&mut self, limit: f64, sample: &Sample) -> Update {
        if sample.dropped {
            return Update::new(self.smooth(limit, limit * 0.5), "drop");
        }
        let short = sample.rtt.max(Duration::from_nanos(1));
        let long = self.follow(short);
        if f64::from(sample.in_flight) * 2.0 < limit {
            return Update::new(limit, "app-limited");
        }
        let gradient = (self.tolerance * long.as_secs_f64() / short.as_secs_f64()).clamp(0.5, 1.0);
        if gradient < 1.0 {
            Update::new(self.smooth(limit, limit * gradient), "queueing")
        } else {
            Update::new(self.smooth(limit, limit + self.queue_size), "no queueing")
        }
    }
}

/// Builds a [`Gradient2`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct Gradient2Builder {
    smoothing: f64,
    tolerance: f64,
    queue_size: u32,
    long_window: u32,
    baseline_windows: usize,
}

impl Default for Gradient2Builder {
    fn default() -> Self {
        Self {
            smoothing: 0.2,
            tolerance: 1.0,
            queue_size: 4,
            long_window: 600,
            baseline_windows: 10,
        }
    }
}

impl Gradient2Builder {
    /// How far each update moves toward its target (default 0.2; must be in
    /// (0, 1]).
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// How much longer than the baseline a round trip may be before the
    /// limit shrinks (default 1; must be in [1, 4]). Above 1 the limit
    /// settles about that many times above the capacity, with the rest
    /// queued at the dependency.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Calls added (before smoothing) while nothing queues (default 4).
    pub fn queue_size(mut self, calls: u32) -> Self {
        self.queue_size = calls;
        self
    }

    /// Over how many windows the long RTT rises toward a longer round trip
    /// (default 600; must be at least 1).
    pub fn long_window(mut self, windows: u32) -> Self {
        self.long_window = windows;
        self
    }

    /// How many recent windows the baseline takes its shortest round trip
    /// from (default 10; must be at least 1).
    pub fn baseline_windows(mut self, windows: usize) -> Self {
        self.baseline_windows = windows;
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<Gradient2, ConfigError> {
        if !(self.smoothing > 0.0 && self.smoothing <= 1.0) {
            return Err(ConfigError::new(
                COMPONENT,
                "smoothing",
                format!("must be in (0, 1], got {}", self.smoothing),
            ));
        }
        if !(1.0..=4.0).contains(&self.tolerance) {
            return Err(ConfigError::new(
                COMPONENT,
                "tolerance",
                format!("must be in [1, 4], got {}", self.tolerance),
            ));
        }
        if self.long_window == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "long_window",
                "must be at least 1, got 0",
            ));
        }
        if self.baseline_windows == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "baseline_windows",
                "must be at least 1, got 0",
            ));
        }
        Ok(Gradient2 {
            smoothing: self.smoothing,
            tolerance: self.tolerance,
            queue_size: f64::from(self.queue_size),
            long_window: self.long_window,
            baseline_windows: self.baseline_windows,
            recent: VecDeque::with_capacity(self.baseline_windows),
            long_rtt: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rtt_us: u64, in_flight: u32) -> Sample {
        Sample::new(Duration::from_micros(rtt_us), in_flight, 10, 0, 0)
    }

    #[test]
    fn grows_by_the_smoothed_queue_size_while_nothing_queues() {
        let mut g = Gradient2::default();
        let u = g.update(20.0, &at(10_000, 20));
        assert!((u.limit - 20.8).abs() < 1e-9, "{u:?}");
    }

    #[test]
    fn shrinks_toward_the_queue_free_share_when_the_rtt_rises() {
        let mut g = Gradient2::default();
        g.update(40.0, &at(10_000, 40));
        // 50 in flight at 12.5ms: gradient 0.8, target 40, smoothed 48.
        let u = g.update(50.0, &at(12_500, 50));
        assert_eq!(u.why, "queueing");
        assert!((u.limit - 48.0).abs() < 1e-6, "{u:?}");
    }

    #[test]
    fn the_long_rtt_does_not_follow_a_standing_queue() {
        let mut g = Gradient2::builder().long_window(1).build().unwrap();
        g.update(40.0, &at(10_000, 40));
        // Nine windows with our own queue: the baseline keeps the dip.
        for _ in 0..9 {
            g.update(44.0, &at(11_000, 44));
        }
        assert_eq!(g.long_rtt(), Some(Duration::from_millis(10)));
        // Ten in a row: the dependency itself got slower; follow it.
        g.update(44.0, &at(11_000, 44));
        assert_eq!(g.long_rtt(), Some(Duration::from_millis(11)));
    }

    #[test]
    fn a_faster_round_trip_lowers_the_long_rtt_at_once() {
        let mut g = Gradient2::default();
        g.update(40.0, &at(20_000, 40));
        g.update(40.0, &at(10_000, 40));
        assert_eq!(g.long_rtt(), Some(Duration::from_millis(10)));
    }

    #[test]
    fn a_drop_halves_before_smoothing_and_an_unused_limit_holds() {
        let mut g = Gradient2::default();
        let dropped = Sample::new(Duration::from_millis(1), 40, 10, 1, 0);
        assert!((g.update(40.0, &dropped).limit - 36.0).abs() < 1e-9);
        assert_eq!(g.update(40.0, &at(10_000, 19)).limit, 40.0);
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let b = Gradient2::builder;
        assert_eq!(b().smoothing(0.0).build().unwrap_err().field(), "smoothing");
        assert_eq!(b().tolerance(0.9).build().unwrap_err().field(), "tolerance");
        assert_eq!(
            b().long_window(0).build().unwrap_err().field(),
            "long_window"
        );
        let err = b().baseline_windows(0).build().unwrap_err();
        assert_eq!(err.field(), "baseline_windows");
    }
}

//! [`Gradient2`]: the limit scaled by how far the round trip has risen
//! over its baseline.

use super::algorithm::{LimitAlgorithm, Sample, Update};
use ballast_core::ConfigError;
use std::time::Duration;

const COMPONENT: &str = "adaptive gradient2";

/// After Netflix concurrency-limits' `Gradient2Limit`: the limit follows
/// the gradient `long_rtt / short_rtt` between a baseline round trip and
/// the current one. While the current one is within `tolerance` of the
/// baseline, nothing is queueing: the limit grows by `queue_size` calls,
/// smoothed (`smoothing`), to probe for more. Beyond it, the limit is cut
/// to its queue-free share, `limit × long_rtt / short_rtt` (at most
/// halved).
///
/// Use it when latency is the first sign of overload and a steady limit
/// with little queueing at the dependency matters more than reaching
/// capacity in the fewest windows.
///
/// # Unlike the Java original
///
/// The original grows without bound under moderate overload
/// (concurrency-limits PR #134): its long RTT is an average of the short
/// one, so it drifts up with the very queue the limit builds, the gradient
/// stays near 1 and `queue_size` is added again and again. Here the
/// baseline cannot follow a queue the limit made:
///
/// - the baseline falls at once to any shorter round trip, and otherwise
///   rises only in the window right after a cut, and only if the cut did
///   not shorten the round trip. A cut goes to the queue-free share
///   unsmoothed. If the queue was ours, the next window's round trip falls
///   with the limit (a queue's round trip is in proportion to the calls in
///   flight), and the baseline stays, even while a queue remains: a cut is
///   at most a halving, so after the capacity falls to a quarter the
///   window after the cut still queues, and taking it as the baseline
///   would settle the limit at twice the capacity. If the round trip stays
///   up although the limit was cut (it fell less than half way to the
///   fall a queue of ours would show), the dependency itself got slower:
///   the baseline follows it at once (no long pinning at a low limit);
/// - growth needs the round trip within `tolerance` of the baseline, so the
///   limit settles within about `tolerance ×` the capacity;
/// - a window is one round trip of calls, so its mean round trip is steady
///   enough that noise rarely passes the tolerance; the growth needs no
///   gradient of exactly 1, so noise does not wear the limit down either;
/// - the limit grows only while it is used (half of it or more in flight);
/// - a window with a drop scales the limit by 0.5 before smoothing (the
///   original ignores drops).
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient2 {
    smoothing: f64,
    tolerance: f64,
    queue_size: f64,
    long_rtt: Option<Duration>,
    /// The last update cut the limit: the next window, run under the cut
    /// limit, tells whether the queue was ours (its round trip falls below
    /// this) or the dependency got slower (it does not).
    fall_below: Option<Duration>,
}

impl Gradient2 {
    /// A builder with the defaults: smoothing 0.2, tolerance 1.1, queue
    /// size 4.
    pub fn builder() -> Gradient2Builder {
        Gradient2Builder::default()
    }

    /// How far each increase moves toward `limit + queue_size`.
    pub fn smoothing(&self) -> f64 {
        self.smoothing
    }

    /// How much longer than the baseline a round trip may be and still
    /// count as no queueing.
    pub fn tolerance(&self) -> f64 {
        self.tolerance
    }

    /// Calls added (before smoothing) per window while nothing queues.
    pub fn queue_size(&self) -> u32 {
        // Stored as the f64 of a u32: the cast is exact.
        self.queue_size as u32
    }

    /// The baseline round trip the window's is compared to.
    pub fn long_rtt(&self) -> Option<Duration> {
        self.long_rtt
    }

    fn smooth(&self, limit: f64, target: f64) -> f64 {
        (1.0 - self.smoothing) * limit + self.smoothing * target
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
        let fall_below = self.fall_below.take();
        if sample.dropped {
            return Update::new(self.smooth(limit, limit * 0.5), "drop");
        }
        let short = sample.rtt.max(Duration::from_nanos(1));
        let long = match (self.long_rtt, fall_below) {
            // The first window, or a faster dependency: its round trip is
            // the baseline.
            (None, _) => short,
            (Some(long), _) if short < long => short,
            // The window right after a cut, whose round trip did not fall
            // with the limit: the queue was not ours, the dependency is
            // slower. Its round trip is the baseline.
            (Some(_), Some(fall_below)) if short >= fall_below => short,
            // Otherwise (no cut, or a cut that shortened the round trip:
            // the queue was ours) the baseline stays.
            (Some(long), _) => long,
        };
        self.long_rtt = Some(long);
        if f64::from(sample.in_flight) * 2.0 < limit {
            return Update::new(limit, "app-limited");
        }
        let ratio = long.as_secs_f64() / short.as_secs_f64();
        if ratio * self.tolerance >= 1.0 {
            return Update::new(self.smooth(limit, limit + self.queue_size), "no queueing");
        }
        let cut = ratio.max(0.5);
        // Had the queue been ours, the round trip falls to `cut × short`
        // (to the baseline if the cut was not clamped); half way to that
        // tells it from a round trip that does not fall at all.
        self.fall_below = Some(short.mul_f64((1.0 + cut) / 2.0));
        Update::new(limit * cut, "queueing")
    }
}

/// Builds a [`Gradient2`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct Gradient2Builder {
    smoothing: f64,
    tolerance: f64,
    queue_size: u32,
}

impl Default for Gradient2Builder {
    fn default() -> Self {
        Self {
            smoothing: 0.2,
            tolerance: 1.1,
            queue_size: 4,
        }
    }
}

impl Gradient2Builder {
    /// How far each increase moves toward `limit + queue_size` (default
    /// 0.2; must be in (0, 1]).
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// How much longer than the baseline a window's round trip may be and
    /// still count as no queueing (default 1.1; must be in [1, 4]). Above
    /// the round trip's noise, and as low as that allows: the limit settles
    /// up to about this many times the capacity, the rest queued at the
    /// dependency.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Calls added (before smoothing) per window while nothing queues
    /// (default 4).
    pub fn queue_size(mut self, calls: u32) -> Self {
        self.queue_size = calls;
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
        Ok(Gradient2 {
            smoothing: self.smoothing,
            tolerance: self.tolerance,
            queue_size: f64::from(self.queue_size),
            long_rtt: None,
            fall_below: None,
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
    fn grows_by_the_smoothed_queue_size_within_the_tolerance() {
        let mut g = Gradient2::default();
        let u = g.update(20.0, &at(10_000, 20));
        assert!((u.limit - 20.8).abs() < 1e-9, "{u:?}");
        // 10% over the baseline is still no queueing.
        let u = g.update(20.0, &at(11_000, 20));
        assert_eq!(u.why, "no queueing");
    }

    #[test]
    fn cuts_to_the_queue_free_share_beyond_the_tolerance() {
        let mut g = Gradient2::default();
        g.update(40.0, &at(10_000, 40));
        // 50 in flight at 12.5ms: 40 of them were served without queueing.
        let u = g.update(50.0, &at(12_500, 50));
        assert_eq!((u.limit, u.why), (40.0, "queueing"));
        // A cut never more than halves.
        let mut g = Gradient2::default();
        g.update(40.0, &at(10_000, 40));
        let u = g.update(40.0, &at(50_000, 40));
        assert_eq!(u.limit, 20.0);
    }

    #[test]
    fn the_baseline_ignores_our_own_queue_and_follows_a_slower_dependency() {
        let mut g = Gradient2::default();
        g.update(40.0, &at(10_000, 40));
        // Growing with a rising round trip: the baseline stays.
        g.update(43.0, &at(10_750, 43));
        assert_eq!(g.long_rtt(), Some(Duration::from_millis(10)));
        // Cut: the next window, at the queue-free share, measures the
        // baseline. Our own queue gone, it is 10ms again.
        g.update(46.0, &at(11_500, 46));
        g.update(40.0, &at(10_000, 40));
        assert_eq!(g.long_rtt(), Some(Duration::from_millis(10)));
        // The dependency got slower for good: after a cut, the baseline is
        // the new round trip.
        g.update(44.0, &at(20_000, 44));
        g.update(22.0, &at(20_000, 22));
        assert_eq!(g.long_rtt(), Some(Duration::from_millis(20)));
    }

    #[test]
    fn a_cut_that_shortens_the_round_trip_keeps_the_baseline_while_a_queue_remains() {
        // The capacity fell to a quarter under a queueing dependency: 100
        // in flight take four times the baseline.
        let mut g = Gradient2::default();
        g.update(100.0, &at(10_000, 100));
        let cut = g.update(100.0, &at(40_000, 100));
        assert_eq!((cut.limit, cut.why), (50.0, "queueing"));
        // Halved, the round trip halves: the queue was ours, and half of it
        // is still there. The baseline stays, and the limit is cut again.
        let again = g.update(50.0, &at(20_000, 50));
        assert_eq!(g.long_rtt(), Some(Duration::from_millis(10)));
        assert_eq!((again.limit, again.why), (25.0, "queueing"));
        // At the capacity, no queue: the limit grows from there.
        assert_eq!(g.update(25.0, &at(10_000, 25)).why, "no queueing");
        assert_eq!(g.long_rtt(), Some(Duration::from_millis(10)));
    }

    #[test]
    fn a_dependency_slower_under_our_queue_becomes_the_baseline_once_the_queue_is_gone() {
        // 40 servers became three times slower (30ms) with 100 in flight:
        // 75ms, part ours (the queue), part the dependency's.
        let mut g = Gradient2::default();
        g.update(100.0, &at(10_000, 100));
        assert_eq!(g.update(100.0, &at(75_000, 100)).limit, 50.0);
        // Halved, the round trip halves: still our queue.
        assert_eq!(g.update(50.0, &at(37_500, 50)).limit, 25.0);
        assert_eq!(g.long_rtt(), Some(Duration::from_millis(10)));
        // Halved again, it stays near 30ms: no queue of ours is left, the
        // dependency takes 30ms now, and that is the baseline.
        let u = g.update(25.0, &at(30_000, 25));
        assert_eq!(g.long_rtt(), Some(Duration::from_millis(30)));
        assert_eq!(u.why, "no queueing");
    }

    #[test]
    fn a_faster_round_trip_lowers_the_baseline_at_once() {
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
            b().tolerance(f64::NAN).build().unwrap_err().field(),
            "tolerance"
        );
    }
}

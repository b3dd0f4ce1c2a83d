//! [`LimitAlgorithm`]: how an adaptive limit moves, and the [`Sample`] it
//! moves on.

use ballast_core::Nanos;
use std::time::Duration;

/// What the calls of one measurement window saw: the input of a
/// [`LimitAlgorithm`].
///
/// The limiter gathers calls into windows and hands the algorithm one
/// `Sample` per window, not one per call: a window holds only calls that
/// *started* under the current limit (calls begun before the last change
/// are left out, since they measured an older limit), and closes once it
/// holds as many calls as the limit (at least `min_window_samples`): about
/// one round trip, every slot of the limit used once. So every update sees
/// the effect of the previous one, whatever the call rate.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Sample {
    /// The mean round-trip time of the window's calls that were not
    /// dropped (of all its calls if every one was dropped): what the
    /// dependency's latency is at the current limit.
    pub rtt: Duration,
    /// The shortest round trip in the window (dropped calls left out, as
    /// for `rtt`).
    pub min_rtt: Duration,
    /// The most calls in flight when any of the window's calls started
    /// (counting that call): how much of the limit was used. An algorithm
    /// should not raise a limit it is not using.
    pub in_flight: u32,
    /// Whether any call in the window was dropped: it failed, timed out or
    /// was refused by the dependency. The loss signal (AIMD's only one).
    pub dropped: bool,
    /// How many calls the window holds.
    pub calls: u32,
    /// How many of them were dropped.
    pub dropped_calls: u32,
    /// When the window closed, in nanoseconds since the limiter was built.
    pub now: Nanos,
}

impl Sample {
    /// A sample of `calls` calls with mean round trip `rtt`, `in_flight`
    /// at most at their start, `dropped` of them dropped, closing at `now`:
    /// for testing an algorithm by itself. `min_rtt` is `rtt`.
    pub fn new(rtt: Duration, in_flight: u32, calls: u32, dropped: u32, now: Nanos) -> Self {
        Self {
            rtt,
            min_rtt: rtt,
            in_flight,
            dropped: dropped > 0,
            calls,
            dropped_calls: dropped,
            now,
        }
    }
}

/// What a [`LimitAlgorithm`] decided: the new limit and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Update {
    /// The new limit estimate. The limiter keeps it within the configured
    /// bounds (`min_limit`..=`max_limit`) and admits up to its integer
    /// part; a value that is not finite keeps the old limit.
    pub limit: f64,
    /// Why, in a few words, for the `tracing` event on a limit change
    /// (for example `"queueing"`, `"drop"`, `"app-limited"`).
    pub why: &'static str,
}

impl Update {
    /// The limit `limit`, because `why`.
    pub fn new(limit: f64, why: &'static str) -> Self {
        Self { limit, why }
    }
}

/// How an adaptive limit moves: from the current limit and a [`Sample`] of
/// one window of calls, the next limit.
///
/// ballast ships [`Aimd`](super::Aimd), [`Vegas`](super::Vegas) and
/// [`Gradient2`](super::Gradient2); implement this trait for an algorithm
/// of your own and hand it to
/// [`AdaptiveLimiter::with_algorithm`](super::AdaptiveLimiter::with_algorithm).
/// `update` runs under the limiter's update lock, once per window (not on
/// the admission path), so it may keep any state it likes in `&mut self`;
/// it should be quick and must not block.
///
/// ```
/// use ballast_bulkhead::adaptive::{LimitAlgorithm, Sample, Update};
/// use std::time::Duration;
///
/// /// Halve on a drop or a round trip over 100ms, else grow by one.
/// struct Simple;
///
/// impl LimitAlgorithm for Simple {
///     fn name(&self) -> &'static str {
///         "simple"
///     }
///     fn update(&mut self, limit: f64, sample: &Sample) -> Update {
///         if sample.dropped || sample.rtt > Duration::from_millis(100) {
///             Update::new(limit / 2.0, "slow or dropping")
///         } else {
///             Update::new(limit + 1.0, "healthy")
///         }
///     }
/// }
///
/// let mut simple = Simple;
/// let sample = Sample::new(Duration::from_millis(5), 10, 10, 0, 0);
/// assert_eq!(simple.update(10.0, &sample).limit, 11.0);
/// ```
pub trait LimitAlgorithm: Send + 'static {
    /// The algorithm's name, in `tracing` events and the snapshot.
    fn name(&self) -> &'static str;

    /// The next limit, from the current one (`limit`, within the bounds)
    /// and what the last window of calls saw.
    fn update(&mut self, limit: f64, sample: &Sample) -> Update;
}

impl LimitAlgorithm for Box<dyn LimitAlgorithm> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn update(&mut self, limit: f64, sample: &Sample) -> Update {
        (**self).update(limit, sample)
    }
}

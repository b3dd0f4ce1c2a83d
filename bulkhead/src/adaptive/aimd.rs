//! [`Aimd`]: additive increase, multiplicative decrease, on drops.

use super::algorithm::{LimitAlgorithm, Sample, Update};
use ballast_core::ConfigError;
use std::time::Duration;

const COMPONENT: &str = "adaptive aimd";

/// Additive increase, multiplicative decrease (Netflix concurrency-limits'
/// `AIMDLimit`, TCP Reno's rule): grow the limit by one per window while it
/// is used and nothing drops; multiply it by `backoff_ratio` when a call
/// drops or a window's round trip exceeds `timeout`.
///
/// AIMD reads only loss, not latency: use it when the dependency says
/// "too much" by failing, timing out or refusing (a 503, a full queue),
/// and latency alone is a poor signal. It settles in a sawtooth just under
/// the load at which the dependency starts dropping. In front of a
/// dependency that queues instead of failing, only the `timeout` shows
/// overload: set it just above the no-load round trip (the simulation
/// uses 5% over it), or the limit settles where the queue's latency
/// reaches it.
///
/// Differences from the Java original: it decides once per window (about
/// once per round trip) rather than on every call, so one burst of drops
/// shrinks the limit once, not once per dropped call, as TCP halves once
/// per window.
#[derive(Debug, Clone, PartialEq)]
pub struct Aimd {
    backoff_ratio: f64,
    timeout: Duration,
}

impl Aimd {
    /// A builder with the defaults: back off to 0.9 of the limit on a drop,
    /// and count a window whose mean round trip exceeds 5s as a drop.
    pub fn builder() -> AimdBuilder {
        AimdBuilder::default()
    }

    /// What the limit is multiplied by on a drop.
    pub fn backoff_ratio(&self) -> f64 {
        self.backoff_ratio
    }

    /// A window whose mean round trip is longer counts as a drop.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl Default for Aimd {
    fn default() -> Self {
        Aimd::builder().build().expect("the defaults are valid")
    }
}

impl LimitAlgorithm for Aimd {
    fn name(&self) -> &'static str {
        "aimd"
    }

    fn update(&mut self, limit: f64, sample: &Sample) -> Update {
        if sample.dropped {
            return Update::new(limit * self.backoff_ratio, "drop");
        }
        if sample.rtt > self.timeout {
            return Update::new(limit * self.backoff_ratio, "timeout");
        }
        // Grow only a limit that is used: with fewer than half of it in
        // flight, the window says nothing about a larger one.
        if f64::from(sample.in_flight) * 2.0 >= limit {
            Update::new(limit + 1.0, "no drops")
        } else {
            Update::new(limit, "app-limited")
        }
    }
}

/// Builds an [`Aimd`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct AimdBuilder {
    backoff_ratio: f64,
    timeout: Duration,
}

impl Default for AimdBuilder {
    fn default() -> Self {
        Self {
            backoff_ratio: 0.9,
            timeout: Duration::from_secs(5),
        }
    }
}

impl AimdBuilder {
    /// What the limit is multiplied by on a drop (default 0.9; must be in
    /// [0.5, 1)).
    pub fn backoff_ratio(mut self, ratio: f64) -> Self {
        self.backoff_ratio = ratio;
        self
    }

    /// A window whose mean round trip exceeds this counts as a drop
    /// (default 5s; must not be zero). Set it near the latency at which the
    /// dependency is known to be in trouble.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<Aimd, ConfigError> {
        if !(0.5..1.0).contains(&self.backoff_ratio) {
            return Err(ConfigError::new(
                COMPONENT,
                "backoff_ratio",
                format!("must be in [0.5, 1), got {}", self.backoff_ratio),
            ));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::new(COMPONENT, "timeout", "must not be zero"));
        }
        Ok(Aimd {
            backoff_ratio: self.backoff_ratio,
            timeout: self.timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rtt_ms: u64, in_flight: u32, dropped: u32) -> Sample {
        Sample::new(Duration::from_millis(rtt_ms), in_flight, 10, dropped, 0)
    }

    #[test]
    fn grows_by_one_while_the_limit_is_used() {
        let mut a = Aimd::default();
        assert_eq!(a.update(20.0, &sample(10, 20, 0)).limit, 21.0);
        assert_eq!(a.update(20.0, &sample(10, 10, 0)).limit, 21.0);
    }

    #[test]
    fn does_not_grow_a_limit_it_does_not_use() {
        let mut a = Aimd::default();
        assert_eq!(a.update(20.0, &sample(10, 9, 0)).limit, 20.0);
    }

    #[test]
    fn backs_off_on_a_drop_or_a_timeout() {
        let mut a = Aimd::builder()
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap();
        assert_eq!(a.update(20.0, &sample(10, 20, 1)).limit, 18.0);
        let slow = a.update(20.0, &sample(150, 20, 0));
        assert_eq!((slow.limit, slow.why), (18.0, "timeout"));
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let err = Aimd::builder().backoff_ratio(1.0).build().unwrap_err();
        assert_eq!((err.component(), err.field()), (COMPONENT, "backoff_ratio"));
        let err = Aimd::builder().backoff_ratio(f64::NAN).build().unwrap_err();
        assert_eq!(err.field(), "backoff_ratio");
        let err = Aimd::builder().timeout(Duration::ZERO).build().unwrap_err();
        assert_eq!(err.field(), "timeout");
    }
}

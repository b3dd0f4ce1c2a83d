//! [`Priority`] and [`Thresholds`]: which calls to shed first, as a pure
//! function any limiter can call.

use ballast_core::ConfigError;

/// How much a call matters when the dependency is saturated: lower
/// priorities are shed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Priority {
    /// Shed first: background work, prefetches, batch jobs.
    Low,
    /// Ordinary traffic (the default).
    #[default]
    Normal,
    /// Traffic a user is waiting on.
    High,
    /// Never shed before the limit itself is reached: health checks,
    /// payments, the calls that keep the system alive.
    Critical,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Critical,
    ];

    /// Lowercase name, as in `tracing` events and config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    /// Position in [`Priority::ALL`], for per-priority tables.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The share of a limit each [`Priority`] may fill, in percent: a call of
/// priority `p` is admitted while fewer than `ceil(limit * percent(p) / 100)`
/// calls are in flight.
///
/// The defaults are critical 100%, high 90%, normal 80%, low 60%: as load
/// rises, low-priority calls are shed when the limiter is 60% full, normal
/// ones at 80%, high ones at 90%, and critical ones only at the limit
/// itself. Rounding up means every priority is admitted into an idle
/// limiter, however small its limit.
///
/// [`admits`](Self::admits) is a pure function of the in-flight count and
/// the limit, so any limiter (fixed, adaptive) can shed by priority with it.
///
/// ```
/// use ballast_bulkhead::shed::{Priority, Thresholds};
///
/// let t = Thresholds::default();
/// // A limit of 10 with 7 calls in flight: low (60%) is shed, normal (80%) is not.
/// assert!(!t.admits(Priority::Low, 7, 10));
/// assert!(t.admits(Priority::Normal, 7, 10));
/// assert!(!t.admits(Priority::Critical, 10, 10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Percent per priority, indexed by [`Priority::index`].
    percent: [u8; 4],
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            percent: [60, 80, 90, 100],
        }
    }
}

impl Thresholds {
    /// Thresholds in percent of the limit, one per priority. Each must be
    /// 1 to 100, and a higher priority's at least a lower one's (else a
    /// lower priority would be shed after a higher one).
    pub fn new(critical: u8, high: u8, normal: u8, low: u8) -> Result<Self, ConfigError> {
        let t = Self {
            percent: [low, normal, high, critical],
        };
        t.validate("thresholds")?;
        Ok(t)
    }

    pub(crate) fn validate(&self, component: &'static str) -> Result<(), ConfigError> {
        for p in Priority::ALL {
            let v = self.percent[p.index()];
            if !(1..=100).contains(&v) {
                return Err(ConfigError::new(
                    component,
                    field(p),
                    format!("must be a percent from 1 to 100, got {v}"),
                ));
            }
        }
        for pair in Priority::ALL.windows(2) {
            let (lower, higher) = (pair[0], pair[1]);
            if self.percent[higher.index()] < self.percent[lower.index()] {
                return Err(ConfigError::new(
                    component,
                    field(higher),
                    format!(
                        "must be at least the {} threshold ({}%), got {}%",
                        lower.as_str(),
                        self.percent[lower.index()],
                        self.percent[higher.index()]
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Sets one priority's percent; checked by the config builder.
    pub(crate) fn set(&mut self, priority: Priority, percent: u8) {
        self.percent[priority.index()] = percent;
    }

    /// The percent of the limit `priority` may fill.
    pub fn percent(&self, priority: Priority) -> u8 {
        self.percent[priority.index()]
    }

    /// How many calls may be in flight for a call of `priority` to still
    /// be admitted: `ceil(limit * percent / 100)`.
    #[inline]
    pub fn ceiling(&self, priority: Priority, limit: u64) -> u64 {
        let pct = u128::from(self.percent[priority.index()]);
        let c = (u128::from(limit) * pct).div_ceil(100);
        // At most `limit`, since the percent is at most 100.
        c as u64
    }

    /// Whether a call of `priority` is admitted with `in_flight` calls
    /// already in flight under `limit`.
    #[inline]
    pub fn admits(&self, priority: Priority, in_flight: u64, limit: u64) -> bool {
        in_flight < self.ceiling(priority, limit)
    }
}

/// The config field that holds `p`'s threshold.
pub(crate) fn field(p: Priority) -> &'static str {
    match p {
        Priority::Low => "threshold_low",
        Priority::Normal => "threshold_normal",
        Priority::High => "threshold_high",
        Priority::Critical => "threshold_critical",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ceilings_of_a_limit_of_ten() {
        let t = Thresholds::default();
        let ceilings: Vec<u64> = Priority::ALL.iter().map(|&p| t.ceiling(p, 10)).collect();
        assert_eq!(ceilings, vec![6, 8, 9, 10]);
    }

    #[test]
    fn every_priority_gets_into_an_idle_limiter_of_one() {
        let t = Thresholds::default();
        for p in Priority::ALL {
            assert!(t.admits(p, 0, 1), "{p:?}");
            assert!(!t.admits(p, 1, 1), "{p:?}");
        }
    }

    #[test]
    fn lower_priorities_are_shed_first_as_in_flight_rises() {
        let t = Thresholds::default();
        let limit = 100;
        // The first in-flight count at which each priority is shed.
        let shed_at: Vec<u64> = Priority::ALL
            .iter()
            .map(|&p| (0..=limit).find(|&n| !t.admits(p, n, limit)).unwrap())
            .collect();
        assert_eq!(shed_at, vec![60, 80, 90, 100]);
    }

    #[test]
    fn ceiling_never_overflows_or_exceeds_the_limit() {
        let t = Thresholds::new(100, 99, 98, 1).unwrap();
        assert_eq!(t.ceiling(Priority::Critical, u64::MAX), u64::MAX);
        assert!(t.ceiling(Priority::High, u64::MAX) < u64::MAX);
        assert_eq!(t.ceiling(Priority::Low, 1000), 10);
    }

    #[test]
    fn out_of_range_and_inverted_thresholds_are_config_errors() {
        let err = Thresholds::new(100, 90, 80, 0).unwrap_err();
        assert_eq!(err.field(), "threshold_low");
        let err = Thresholds::new(101, 90, 80, 60).unwrap_err();
        assert_eq!(err.field(), "threshold_critical");
        let err = Thresholds::new(100, 70, 80, 60).unwrap_err();
        assert_eq!(err.field(), "threshold_high");
        assert!(Thresholds::new(100, 100, 100, 100).is_ok());
    }
}

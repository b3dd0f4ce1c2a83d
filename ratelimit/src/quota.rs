//! [`Quota`]: how many cells a GCRA limiter admits, how fast, and in what
//! burst.

use ballast_core::{ConfigError, Nanos, nanos};
use std::num::NonZeroU32;
use std::time::Duration;

pub(crate) const COMPONENT: &str = "rate limiter";

/// The largest burst window (`burst × emission interval`) a GCRA accepts:
/// 2^62 ns, about 146 years. Keeping it below 2^63 leaves room for `now`
/// (also below 2^63 for 292 years) in the core's sums without overflow.
pub const MAX_BURST_WINDOW: Nanos = 1 << 62;

/// A GCRA rate: one cell every *emission interval*, with up to `burst`
/// cells admitted back to back.
///
/// Built like governor's `Quota`, from simple to general:
/// [`per_second`](Self::per_second), [`per_minute`](Self::per_minute),
/// [`per_hour`](Self::per_hour), [`with_period`](Self::with_period),
/// [`new`](Self::new); then [`allow_burst`](Self::allow_burst). The burst
/// defaults to the number of cells per period, so `per_second(10)` admits
/// 10 at once and then one every 100 ms.
///
/// ```
/// use ballast_ratelimit::Quota;
/// use std::num::NonZeroU32;
/// use std::time::Duration;
///
/// let q = Quota::per_second(NonZeroU32::new(10).unwrap());
/// assert_eq!(q.emission_interval(), Duration::from_millis(100));
/// assert_eq!(q.burst().get(), 10);
/// let q = Quota::with_period(Duration::from_millis(250))?.allow_burst(NonZeroU32::new(4).unwrap());
/// assert_eq!(q.burst().get(), 4);
/// assert!(Quota::with_period(Duration::ZERO).is_err());
/// # Ok::<(), ballast_ratelimit::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Nanoseconds between two cells at the sustained rate (GCRA's `T`).
    pub(crate) interval: Nanos,
    /// Cells admitted back to back from idle.
    pub(crate) burst: NonZeroU32,
}

impl Quota {
    /// `cells` per second, burst `cells`. The interval is `1s / cells`,
    /// rounded down, and never below 1 ns.
    pub const fn per_second(cells: NonZeroU32) -> Self {
        Self::per_unit(1_000_000_000, cells)
    }

    /// `cells` per minute, burst `cells`.
    pub const fn per_minute(cells: NonZeroU32) -> Self {
        Self::per_unit(60_000_000_000, cells)
    }

    /// `cells` per hour, burst `cells`.
    pub const fn per_hour(cells: NonZeroU32) -> Self {
        Self::per_unit(3_600_000_000_000, cells)
    }

    const fn per_unit(unit: Nanos, cells: NonZeroU32) -> Self {
        let interval = unit / cells.get() as u64;
        Self {
            interval: if interval == 0 { 1 } else { interval },
            burst: cells,
        }
    }

    /// One cell every `period`, burst 1. A zero period, or one longer than
    /// [`MAX_BURST_WINDOW`], is an error.
    pub fn with_period(period: Duration) -> Result<Self, ConfigError> {
        let interval = nanos(period);
        if interval == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "period",
                "must be at least 1ns (a zero period is an unbounded rate)",
            ));
        }
        if interval > MAX_BURST_WINDOW {
            return Err(ConfigError::new(
                COMPONENT,
                "period",
                format!("must be at most {MAX_BURST_WINDOW}ns, got {period:?}"),
            ));
        }
        Ok(Self {
            interval,
            burst: NonZeroU32::MIN,
        })
    }

    /// `cells` every `per`, burst `cells`: the general form for a rate read
    /// from a file. Zero cells, a zero period, an interval (`per / cells`)
    /// below 1 ns, or a burst window past [`MAX_BURST_WINDOW`] are errors.
    pub fn new(cells: u32, per: Duration) -> Result<Self, ConfigError> {
        let Some(cells) = NonZeroU32::new(cells) else {
            return Err(ConfigError::new(
                COMPONENT,
                "rate",
                "must be at least 1 cell",
            ));
        };
        let per_nanos = per.as_nanos();
        let interval = per_nanos / u128::from(cells.get());
        if interval == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "rate",
                format!("{cells} cells per {per:?} is more than one per nanosecond"),
            ));
        }
        let quota = Self {
            interval: u64::try_from(interval).unwrap_or(u64::MAX),
            burst: cells,
        };
        quota.validate()?;
        Ok(quota)
    }

    /// The same rate with up to `burst` cells back to back.
    ///
    /// A burst whose window (`burst × interval`) passes
    /// [`MAX_BURST_WINDOW`] is reported when the limiter is built.
    pub const fn allow_burst(self, burst: NonZeroU32) -> Self {
        Self {
            interval: self.interval,
            burst,
        }
    }

    /// The time between two cells at the sustained rate.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.interval)
    }

    /// How many cells may pass back to back from idle.
    pub fn burst(&self) -> NonZeroU32 {
        self.burst
    }

    /// How long an idle limiter takes to refill its whole burst
    /// (`burst × interval`): after this long idle, its state is the same as
    /// a fresh one's.
    pub fn burst_window(&self) -> Duration {
        Duration::from_nanos(self.burst_window_nanos().unwrap_or(u64::MAX))
    }

    pub(crate) fn burst_window_nanos(&self) -> Option<Nanos> {
        let window = u128::from(self.interval) * u128::from(self.burst.get());
        u64::try_from(window)
            .ok()
            .filter(|w| *w <= MAX_BURST_WINDOW)
    }

    /// Checks the burst window fits (see [`MAX_BURST_WINDOW`]).
    pub(crate) fn validate(&self) -> Result<Nanos, ConfigError> {
        self.burst_window_nanos().ok_or_else(|| {
            ConfigError::new(
                COMPONENT,
                "burst",
                format!(
                    "{} × interval {}ns overflows the {}ns limit",
                    self.burst, self.interval, MAX_BURST_WINDOW
                ),
            )
        })
    }
}

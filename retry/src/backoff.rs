//! Backoff schedules: how long to wait before each retry, as plain
//! iterators that need neither tower nor a runtime.
//!
//! A [`Backoff`] is a validated description (constant, linear or
//! exponential growth, a cap, a [`Jitter`]); [`Backoff::delays`] and
//! [`Backoff::delays_seeded`] turn it into a [`Delays`] iterator whose
//! `n`-th item is the wait before retry `n + 1`.
//!
//! Jitter is applied *after* the cap. Clients that have all reached the
//! cap then still spread their retries, instead of retrying in lockstep
//! exactly where load is highest (capping after randomising, as
//! resilience4j and Polly do, loses the jitter there).

use ballast_core::ConfigError;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

const COMPONENT: &str = "backoff";

/// The cap an exponential or linear backoff gets when none is set (or the
/// base, if that is longer).
pub const DEFAULT_CAP: Duration = Duration::from_secs(30);

/// How the delay grows from one retry to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Growth {
    Constant,
    Linear,
    Exponential(f64),
}

/// How a delay is randomised, after the cap, as in Marc Brooker's
/// "Exponential Backoff And Jitter" (AWS Architecture Blog). With `d` the
/// capped delay and `rand(a, b)` uniform in `[a, b)`:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Jitter {
    /// `d`: no randomness. Clients that failed together retry together.
    None,
    /// `rand(0, d)`: the widest spread and the least total work; the
    /// default.
    #[default]
    Full,
    /// `d/2 + rand(0, d/2)`, which is `d * (0.5 + rand(0, 0.5))`: never
    /// less than half the delay.
    Equal,
    /// `rand(base, min(cap, 3 * previous))`, starting from `previous =
    /// base`: each delay grows from the last one drawn rather than from
    /// the retry number, so the growth of the backoff is ignored. Unlike
    /// the blog post's `min(cap, rand(base, 3 * previous))`, the cap
    /// bounds the range before the draw, so delays at the cap stay
    /// spread over `[base, cap)` instead of piling up on the cap.
    Decorrelated,
}

/// A validated backoff: the delays before successive retries.
///
/// ```
/// use ballast_retry::{Backoff, Jitter};
/// use std::time::Duration;
///
/// let backoff = Backoff::exponential(Duration::from_millis(100))
///     .factor(2.0)
///     .cap(Duration::from_millis(500))
///     .jitter(Jitter::None)
///     .build()?;
/// let ms: Vec<u128> = backoff.delays().take(5).map(|d| d.as_millis()).collect();
/// assert_eq!(ms, [100, 200, 400, 500, 500]);
/// # Ok::<(), ballast_retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    growth: Growth,
    base: Duration,
    cap: Duration,
    jitter: Jitter,
}

impl Default for Backoff {
    /// Exponential from 100 ms, doubling, capped at 10 s, full jitter.
    fn default() -> Self {
        Backoff {
            growth: Growth::Exponential(2.0),
            base: Duration::from_millis(100),
            cap: Duration::from_secs(10),
            jitter: Jitter::Full,
        }
    }
}

impl Backoff {
    /// The same `delay` before every retry (then jittered).
    pub fn constant(delay: Duration) -> BackoffBuilder {
        BackoffBuilder::new(Growth::Constant, delay)
    }

    /// `step`, `2 * step`, `3 * step`, ... up to the cap (then jittered).
    pub fn linear(step: Duration) -> BackoffBuilder {
        BackoffBuilder::new(Growth::Linear, step)
    }

    /// `base`, `base * factor`, `base * factor^2`, ... up to the cap (then
    /// jittered). The factor is 2 unless set.
    pub fn exponential(base: Duration) -> BackoffBuilder {
        BackoffBuilder::new(Growth::Exponential(2.0), base)
    }

    /// The first delay before jitter (the step of a linear backoff).
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The longest delay before jitter.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The growth factor of an exponential backoff (1 for constant, `None`
    /// for linear).
    pub fn factor(&self) -> Option<f64> {
        match self.growth {
            Growth::Constant => Some(1.0),
            Growth::Linear => None,
            Growth::Exponential(f) => Some(f),
        }
    }

    /// How delays are randomised.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The delay before retry `retry + 1` before jitter:
    /// `min(cap, grown)`.
    pub fn capped(&self, retry: u32) -> Duration {
        let base = self.base.as_secs_f64();
        let grown = match self.growth {
            Growth::Constant => base,
            Growth::Linear => base * (f64::from(retry) + 1.0),
            Growth::Exponential(f) => base * f.powi(i32::try_from(retry).unwrap_or(i32::MAX)),
        };
        if grown.is_finite() && grown < self.cap.as_secs_f64() {
            // At least the base: rounding of the float must not go below it.
            Duration::from_secs_f64(grown).clamp(self.base, self.cap)
        } else {
            self.cap
        }
    }

    /// The schedule, randomised from a seed taken from the thread's RNG.
    pub fn delays(&self) -> Delays {
        Delays::new(*self, SmallRng::from_rng(&mut rand::rng()))
    }

    /// The schedule, randomised from `seed`: the same seed gives the same
    /// delays, so tests can be exact.
    pub fn delays_seeded(&self, seed: u64) -> Delays {
        Delays::new(*self, SmallRng::seed_from_u64(seed))
    }
}

/// Builds a [`Backoff`]; [`build`](Self::build) checks the values.
#[derive(Debug, Clone)]
pub struct BackoffBuilder {
    growth: Growth,
    base: Duration,
    factor: Option<f64>,
    cap: Option<Duration>,
    jitter: Jitter,
}

impl BackoffBuilder {
    fn new(growth: Growth, base: Duration) -> Self {
        Self {
            growth,
            base,
            factor: None,
            cap: None,
            jitter: Jitter::default(),
        }
    }

    /// The growth factor of an exponential backoff: at least 1, finite.
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = Some(factor);
        self
    }

    /// The longest delay before jitter; at least the base. Defaults to
    /// [`DEFAULT_CAP`] (or the base, if longer).
    pub fn cap(mut self, cap: Duration) -> Self {
        self.cap = Some(cap);
        self
    }

    /// How delays are randomised ([`Jitter::Full`] unless set).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        if self.base.is_zero() {
            return Err(ConfigError::new(
                COMPONENT,
                "base",
                "must be more than zero",
            ));
        }
        let growth = match (self.growth, self.factor) {
            (Growth::Exponential(_), Some(f)) => {
                if !f.is_finite() || f < 1.0 {
                    return Err(ConfigError::new(
                        COMPONENT,
                        "factor",
                        format!("must be a finite number of at least 1, got {f}"),
                    ));
                }
                Growth::Exponential(f)
            }
            (_, Some(_)) => {
                return Err(ConfigError::new(
                    COMPONENT,
                    "factor",
                    "applies to an exponential backoff only",
                ));
            }
            (growth, None) => growth,
        };
        let cap = match (growth, self.cap) {
            (Growth::Constant, None) => self.base,
            (_, None) => DEFAULT_CAP.max(self.base),
            (_, Some(cap)) if cap < self.base => {
                return Err(ConfigError::new(
                    COMPONENT,
                    "cap",
                    format!("must be at least the base ({:?}), got {cap:?}", self.base),
                ));
            }
            (_, Some(cap)) => cap,
        };
        Ok(Backoff {
            growth,
            base: self.base,
            cap,
            jitter: self.jitter,
        })
    }
}

/// The delays of a [`Backoff`], one per retry, forever (stopping is the
/// retry policy's job). Made by [`Backoff::delays`] and
/// [`Backoff::delays_seeded`].
#[derive(Debug, Clone)]
pub struct Delays {
    backoff: Backoff,
    rng: SmallRng,
    /// Retries already given a delay.
    retry: u32,
    /// The last delay drawn, for decorrelated jitter.
    previous: Duration,
}

impl Delays {
    fn new(backoff: Backoff, rng: SmallRng) -> Self {
        Self {
            backoff,
            rng,
            retry: 0,
            previous: backoff.base,
        }
    }
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let b = &self.backoff;
        let delay = match b.jitter {
            Jitter::None => b.capped(self.retry),
            Jitter::Full => b.capped(self.retry).mul_f64(self.rng.random::<f64>()),
            Jitter::Equal => {
                let half = b.capped(self.retry) / 2;
                half + half.mul_f64(self.rng.random::<f64>())
            }
            Jitter::Decorrelated => {
                let upper = b.cap.min(self.previous.saturating_mul(3)).max(b.base);
                let d = b.base + (upper - b.base).mul_f64(self.rng.random::<f64>());
                self.previous = d;
                d
            }
        };
        self.retry = self.retry.saturating_add(1);
        Some(delay)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn constant_and_linear_schedules_without_jitter() {
        let c = Backoff::constant(50 * MS)
            .jitter(Jitter::None)
            .build()
            .unwrap();
        assert!(c.delays().take(4).all(|d| d == 50 * MS));
        let l = Backoff::linear(100 * MS)
            .cap(250 * MS)
            .jitter(Jitter::None)
            .build()
            .unwrap();
        let ms: Vec<_> = l.delays().take(4).map(|d| d.as_millis()).collect();
        assert_eq!(ms, [100, 200, 250, 250]);
    }

    #[test]
    fn huge_retry_numbers_saturate_at_the_cap() {
        let e = Backoff::exponential(MS).factor(10.0).build().unwrap();
        assert_eq!(e.capped(u32::MAX), DEFAULT_CAP);
        assert_eq!(e.capped(400), DEFAULT_CAP);
    }
}

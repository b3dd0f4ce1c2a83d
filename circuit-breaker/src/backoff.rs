//! How long the circuit stays open after a trip.

use crate::config::Config;
use rand::Rng;
use std::time::Duration;

/// The open wait for the `trips`-th consecutive trip (1 for the first):
/// `min(max, base * multiplier^(trips-1))`, then jittered by up to
/// `±jitter` of itself. Jitter comes after the cap on purpose: breakers
/// that have all reached the cap still spread their probes.
pub(crate) fn open_wait(config: &Config, trips: u32, rng: &mut impl Rng) -> Duration {
    let base = config.wait_in_open;
    let Some(b) = config.open_backoff else {
        return base;
    };
    let exp = i32::try_from(trips.saturating_sub(1)).unwrap_or(i32::MAX);
    let grown = base.as_secs_f64() * b.multiplier.powi(exp);
    let capped = if grown.is_finite() && grown < b.max.as_secs_f64() {
        Duration::from_secs_f64(grown)
    } else {
        b.max
    };
    if b.jitter == 0.0 {
        return capped;
    }
    let factor = 1.0 + b.jitter * (2.0 * rng.random::<f64>() - 1.0);
    Duration::try_from_secs_f64(capped.as_secs_f64() * factor).unwrap_or(capped)
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;
    use crate::config::OpenBackoff;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn cfg(backoff: OpenBackoff) -> Config {
        Config::builder()
            .wait_in_open(Duration::from_secs(1))
            .open_backoff(backoff)
            .build()
            .unwrap()
    }

    #[test]
    fn grows_exponentially_up_to_the_cap() {
        let c = cfg(OpenBackoff::exponential(2.0, Duration::from_secs(5)));
        let mut rng = SmallRng::seed_from_u64(1);
        let waits: Vec<u64> = (1..=5)
            .map(|n| open_wait(&c, n, &mut rng).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
    }

    #[test]
    fn jitter_stays_within_bounds_even_at_the_cap() {
        let c = cfg(OpenBackoff::exponential(2.0, Duration::from_secs(4)).jitter(0.25));
        let mut rng = SmallRng::seed_from_u64(7);
        let mut distinct = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let w = open_wait(&c, 10, &mut rng).as_secs_f64();
            assert!((3.0..=5.0).contains(&w), "{w}");
            distinct.insert((w * 1000.0) as u64);
        }
        assert!(distinct.len() > 50, "jitter must spread waits at the cap");
    }
}

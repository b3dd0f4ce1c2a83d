//! Backoff schedules: exact with a seed, and every jittered delay within
//! its bounds.

use ballast_retry::{Backoff, DEFAULT_CAP, Jitter};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);
const JITTERS: [Jitter; 4] = [
    Jitter::None,
    Jitter::Full,
    Jitter::Equal,
    Jitter::Decorrelated,
];

fn exponential(jitter: Jitter) -> Backoff {
    Backoff::exponential(100 * MS)
        .factor(2.0)
        .cap(MS * 1000)
        .jitter(jitter)
        .build()
        .unwrap()
}

fn all_backoffs() -> Vec<Backoff> {
    let mut v = Vec::new();
    for j in JITTERS {
        v.push(Backoff::constant(30 * MS).jitter(j).build().unwrap());
        v.push(
            Backoff::linear(70 * MS)
                .cap(500 * MS)
                .jitter(j)
                .build()
                .unwrap(),
        );
        v.push(exponential(j));
        v.push(
            Backoff::exponential(MS)
                .factor(3.5)
                .cap(2000 * MS)
                .jitter(j)
                .build()
                .unwrap(),
        );
    }
    v
}

#[test]
fn unjittered_schedules_are_exact() {
    let ms = |b: Backoff| -> Vec<u128> { b.delays().take(6).map(|d| d.as_millis()).collect() };
    assert_eq!(
        ms(exponential(Jitter::None)),
        [100, 200, 400, 800, 1000, 1000]
    );
    let linear = Backoff::linear(70 * MS).cap(200 * MS).jitter(Jitter::None);
    assert_eq!(ms(linear.build().unwrap()), [70, 140, 200, 200, 200, 200]);
    let constant = Backoff::constant(30 * MS).jitter(Jitter::None);
    assert_eq!(ms(constant.build().unwrap()), [30; 6]);
}

#[test]
fn seeded_schedules_are_exact_and_repeatable() {
    for j in JITTERS {
        let b = exponential(j);
        let first: Vec<_> = b.delays_seeded(42).take(20).collect();
        let again: Vec<_> = b.delays_seeded(42).take(20).collect();
        assert_eq!(first, again, "{j:?}");
    }
    // Full and equal jitter are the formulas on the capped delay, drawing
    // one number per retry from the seeded generator.
    let mut rng = SmallRng::seed_from_u64(7);
    let full: Vec<_> = exponential(Jitter::Full).delays_seeded(7).take(8).collect();
    for (n, d) in full.iter().enumerate() {
        let capped = exponential(Jitter::None).capped(n as u32);
        assert_eq!(*d, capped.mul_f64(rng.random::<f64>()));
    }
    let mut rng = SmallRng::seed_from_u64(7);
    let equal: Vec<_> = exponential(Jitter::Equal)
        .delays_seeded(7)
        .take(8)
        .collect();
    for (n, d) in equal.iter().enumerate() {
        let half = exponential(Jitter::None).capped(n as u32) / 2;
        assert_eq!(*d, half + half.mul_f64(rng.random::<f64>()));
    }
    // Decorrelated: rand(base, min(cap, 3 * previous)).
    let mut rng = SmallRng::seed_from_u64(7);
    let mut previous = 100 * MS;
    for d in exponential(Jitter::Decorrelated).delays_seeded(7).take(8) {
        let upper = (previous * 3).min(1000 * MS);
        let expected = 100 * MS + (upper - 100 * MS).mul_f64(rng.random::<f64>());
        assert_eq!(d, expected);
        previous = d;
    }
}

#[test]
fn every_jittered_delay_stays_within_its_bounds() {
    for b in all_backoffs() {
        for seed in 0..200 {
            let mut previous = b.base();
            for (n, d) in b.delays_seeded(seed).take(40).enumerate() {
                let capped = b.capped(n as u32);
                assert!(capped >= b.base() && capped <= b.cap(), "{b:?}");
                let (lo, hi) = match b.jitter() {
                    Jitter::None => (capped, capped),
                    Jitter::Full => (Duration::ZERO, capped),
                    Jitter::Equal => (capped / 2, capped),
                    Jitter::Decorrelated => (b.base(), (previous * 3).min(b.cap()).max(b.base())),
                };
                assert!(
                    lo <= d && d <= hi,
                    "{b:?} retry {n}: {d:?} not in [{lo:?}, {hi:?}]"
                );
                previous = d;
            }
        }
    }
}

#[test]
fn jitter_is_applied_after_the_cap_so_capped_delays_still_spread() {
    for j in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let b = exponential(j);
        let mut at_cap = std::collections::BTreeSet::new();
        for seed in 0..100 {
            // Retry 30 is far past the cap (100 ms * 2^30).
            let d = b.delays_seeded(seed).nth(30).unwrap();
            assert!(d <= b.cap());
            at_cap.insert(d);
        }
        assert!(
            at_cap.len() > 90,
            "{j:?}: capped delays must not repeat in lockstep"
        );
    }
}

#[test]
fn equal_jitter_is_the_capped_delay_times_a_half_plus_up_to_a_half() {
    let b = exponential(Jitter::Equal);
    let mut rng = SmallRng::seed_from_u64(3);
    for (n, d) in b.delays_seeded(3).take(10).enumerate() {
        let capped = b.capped(n as u32);
        // min(cap, base * 2^n) * (0.5 + rand(0, 0.5)), the same draw.
        let expected = capped.as_secs_f64() * (0.5 + 0.5 * rng.random::<f64>());
        assert!(
            (d.as_secs_f64() - expected).abs() < 1e-9,
            "{d:?} vs {expected}"
        );
    }
}

#[test]
fn defaults() {
    let b = Backoff::default();
    assert_eq!(
        (b.base(), b.cap(), b.factor()),
        (100 * MS, Duration::from_secs(10), Some(2.0))
    );
    assert_eq!(b.jitter(), Jitter::Full);
    assert_eq!(Backoff::exponential(MS).build().unwrap().cap(), DEFAULT_CAP);
    let long = Backoff::exponential(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(long.cap(), Duration::from_secs(60));
}

#[test]
fn invalid_backoffs_are_config_errors() {
    let field = |r: Result<Backoff, ballast_retry::ConfigError>| r.unwrap_err().field().to_owned();
    assert_eq!(field(Backoff::constant(Duration::ZERO).build()), "base");
    assert_eq!(
        field(Backoff::exponential(MS).factor(0.5).build()),
        "factor"
    );
    assert_eq!(
        field(Backoff::exponential(MS).factor(f64::NAN).build()),
        "factor"
    );
    assert_eq!(
        field(Backoff::exponential(MS).factor(f64::INFINITY).build()),
        "factor"
    );
    assert_eq!(field(Backoff::linear(MS).factor(2.0).build()), "factor");
    assert_eq!(field(Backoff::exponential(10 * MS).cap(MS).build()), "cap");
    let e = Backoff::exponential(MS).factor(0.5).build().unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid backoff config: factor must be a finite number of at least 1, got 0.5"
    );
    assert!(Backoff::exponential(MS).factor(1.0).build().is_ok());
}

/// A random backoff of every growth, drawn from `rng`: bases from 1 µs to
/// 1 s, caps from the base to 1,000 times it, factors from 1 to 10.
fn random_backoff(rng: &mut SmallRng, jitter: Jitter) -> Backoff {
    let base = Duration::from_micros(rng.random_range(1..=1_000_000));
    let cap = base.mul_f64(rng.random_range(1.0..1000.0));
    match rng.random_range(0..3) {
        0 => Backoff::constant(base).jitter(jitter).build().unwrap(),
        1 => Backoff::linear(base)
            .cap(cap)
            .jitter(jitter)
            .build()
            .unwrap(),
        _ => Backoff::exponential(base)
            .factor(rng.random_range(1.0..10.0))
            .cap(cap)
            .jitter(jitter)
            .build()
            .unwrap(),
    }
}

#[test]
fn random_backoffs_keep_every_delay_within_its_jitter_bounds() {
    // 2,000 random configurations per jitter kind, 60 delays each: far
    // past the cap for all but the slowest growth.
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    for jitter in JITTERS {
        for _ in 0..2_000 {
            let b = random_backoff(&mut rng, jitter);
            let seed = rng.random::<u64>();
            let mut previous = b.base();
            for (n, d) in b.delays_seeded(seed).take(60).enumerate() {
                let capped = b.capped(n as u32);
                assert!(b.base() <= capped && capped <= b.cap(), "{b:?} retry {n}");
                let ok = match jitter {
                    Jitter::None => d == capped,
                    Jitter::Full => d <= capped,
                    Jitter::Equal => capped / 2 <= d && d <= capped,
                    // Decorrelated ignores the growth: [base, cap], and at
                    // most three times the previous delay.
                    Jitter::Decorrelated => {
                        b.base() <= d && d <= b.cap() && d <= (previous * 3).max(b.base())
                    }
                };
                assert!(ok, "{b:?} seed {seed} retry {n}: {d:?} (capped {capped:?})");
                previous = d;
            }
        }
    }
}

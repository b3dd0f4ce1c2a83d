//! Hedging settings: the builder refuses what cannot work, and a file
//! (feature `serde`) goes through the same checks.

use ballast_retry::{HedgeConfig, HedgeDelay, MAX_HEDGES};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

fn field_of(builder: ballast_retry::HedgeConfigBuilder) -> String {
    builder.build().unwrap_err().field().to_owned()
}

#[test]
fn defaults_hedge_at_the_95th_percentile_with_a_ten_percent_budget() {
    let c = HedgeConfig::default();
    assert_eq!(c.delay(), HedgeDelay::percentile(95.0));
    assert_eq!(c.max_hedges(), 1);
    let b = c.budget().unwrap();
    assert_eq!((b.percent(), b.min_per_second()), (10.0, 1));
    assert_eq!(HedgeConfig::builder().build().unwrap(), c);
}

#[test]
fn invalid_settings_are_config_errors_naming_their_field() {
    let b = HedgeConfig::builder;
    assert_eq!(
        field_of(b().delay(HedgeDelay::Fixed(Duration::ZERO))),
        "delay"
    );
    assert_eq!(field_of(b().max_hedges(0)), "max_hedges");
    assert_eq!(field_of(b().max_hedges(MAX_HEDGES + 1)), "max_hedges");
    assert!(b().max_hedges(MAX_HEDGES).build().is_ok());
    assert_eq!(field_of(b().min_samples(0)), "min_samples");
    assert_eq!(field_of(b().latency_window(MS / 2)), "latency_window");
    for p in [0.0, -1.0, 100.5, f64::NAN, f64::INFINITY] {
        assert_eq!(
            field_of(b().delay(HedgeDelay::percentile(p))),
            "delay.p",
            "{p}"
        );
    }
    assert!(b().delay(HedgeDelay::percentile(100.0)).build().is_ok());
    let bounds = |min, max, fallback| {
        b().delay(HedgeDelay::Percentile {
            p: 99.0,
            min,
            max,
            fallback,
        })
    };
    assert_eq!(field_of(bounds(10 * MS, 5 * MS, MS)), "delay.max");
    assert_eq!(
        field_of(bounds(Duration::ZERO, Duration::ZERO, MS)),
        "delay.max"
    );
    assert_eq!(
        field_of(bounds(MS, 5 * MS, Duration::ZERO)),
        "delay.fallback"
    );
    let e = b().max_hedges(0).build().unwrap_err();
    assert_eq!(e.component(), "hedge");
}

#[cfg(feature = "serde")]
mod file {
    use super::*;

    fn parse(json: &str) -> Result<HedgeConfig, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn every_field_read_from_a_file() {
        let c = parse(
            r#"{
                "delay": { "percentile": 99, "min": "5ms", "max": "2s", "fallback": "150ms" },
                "max_hedges": 2,
                "min_attempt_time": "20ms",
                "budget": { "percent": 5 },
                "min_samples": 10,
                "latency_window": "30s"
            }"#,
        )
        .unwrap();
        assert_eq!(
            c.delay(),
            HedgeDelay::Percentile {
                p: 99.0,
                min: 5 * MS,
                max: Duration::from_secs(2),
                fallback: 150 * MS,
            }
        );
        assert_eq!(c.max_hedges(), 2);
        assert_eq!(c.min_attempt_time(), 20 * MS);
        // Missing budget fields keep the hedge budget's defaults.
        let b = c.budget().unwrap();
        assert_eq!((b.percent(), b.min_per_second()), (5.0, 1));
        assert_eq!(c.min_samples(), 10);
        assert_eq!(c.latency_window(), Duration::from_secs(30));
    }

    #[test]
    fn a_fixed_delay_is_a_duration_and_the_budget_can_be_off() {
        let c = parse(r#"{ "delay": "50ms", "budget": "off" }"#).unwrap();
        assert_eq!(c.delay(), HedgeDelay::Fixed(50 * MS));
        assert!(c.budget().is_none());
        assert_eq!(parse("{}").unwrap(), HedgeConfig::default());
    }

    #[test]
    fn invalid_or_unknown_fields_are_refused() {
        let e = parse(r#"{ "max_hedges": 0 }"#).unwrap_err();
        assert!(e.to_string().contains("max_hedges"), "{e}");
        assert!(parse(r#"{ "delay": { "percentile": 0 } }"#).is_err());
        assert!(parse(r#"{ "hedges": 1 }"#).is_err());
        assert!(parse(r#"{ "budget": "on" }"#).is_err());
        assert!(parse(r#"{ "budget": { "percent": 2000 } }"#).is_err());
    }
}

//! Reading a retry policy's config from a file (feature `serde`).
#![cfg(feature = "serde")]

use ballast_retry::{Backoff, BudgetConfig, Config, Jitter};
use std::time::Duration;

fn from_json(json: &str) -> Result<Config, serde_json::Error> {
    serde_json::from_str(json)
}

/// The error message for `json`, which must not deserialize.
fn error_of(json: &str) -> String {
    match from_json(json) {
        Ok(c) => panic!("{json} should be rejected, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn full_config_matches_the_builder() {
    let config = from_json(
        r#"{
            "max_attempts": 4,
            "backoff": {
                "kind": "exponential",
                "base": "50ms",
                "factor": 3.0,
                "cap": "2s",
                "jitter": "equal"
            },
            "max_total_time": "1m30s",
            "min_attempt_time": "25ms",
            "budget": { "percent": 10, "min_per_second": 5, "window": "30s", "buckets": 6 },
            "seed": 42
        }"#,
    )
    .unwrap();
    let built = Config::builder()
        .max_attempts(4)
        .backoff(
            Backoff::exponential(Duration::from_millis(50))
                .factor(3.0)
                .cap(Duration::from_secs(2))
                .jitter(Jitter::Equal)
                .build()
                .unwrap(),
        )
        .max_total_time(Duration::from_secs(90))
        .min_attempt_time(Duration::from_millis(25))
        .budget(
            BudgetConfig::builder()
                .percent(10.0)
                .min_per_second(5)
                .window(Duration::from_secs(30))
                .buckets(6)
                .build()
                .unwrap(),
        )
        .seed(42)
        .build()
        .unwrap();
    assert_eq!(config, built);
}

#[test]
fn empty_config_is_the_default() {
    assert_eq!(from_json("{}").unwrap(), Config::builder().build().unwrap());
}

#[test]
fn backoff_kinds_and_jitters_are_read() {
    let config =
        from_json(r#"{ "backoff": { "kind": "constant", "base": 1, "jitter": "none" } }"#).unwrap();
    let expected = Backoff::constant(Duration::from_secs(1))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    assert_eq!(config.backoff(), &expected);

    let config = from_json(
        r#"{ "backoff": { "kind": "linear", "base": "100ms", "cap": "1s", "jitter": "decorrelated" } }"#,
    )
    .unwrap();
    let expected = Backoff::linear(Duration::from_millis(100))
        .cap(Duration::from_secs(1))
        .jitter(Jitter::Decorrelated)
        .build()
        .unwrap();
    assert_eq!(config.backoff(), &expected);

    let config = from_json(r#"{ "backoff": { "kind": "exponential", "base": "10ms" } }"#).unwrap();
    assert_eq!(config.backoff().factor(), Some(2.0));
    assert_eq!(config.backoff().jitter(), Jitter::Full);
}

#[test]
fn budget_off_and_partial_budget() {
    let config = from_json(r#"{ "budget": "off" }"#).unwrap();
    assert_eq!(config.budget(), None);
    assert_eq!(config, Config::builder().no_budget().build().unwrap());

    let config = from_json(r#"{ "budget": { "percent": 5 } }"#).unwrap();
    let expected = BudgetConfig::builder().percent(5.0).build().unwrap();
    assert_eq!(config.budget(), Some(&expected));

    let err = error_of(r#"{ "budget": "on" }"#);
    assert!(err.contains("off"), "{err}");
}

#[test]
fn invalid_values_are_errors_with_the_config_message() {
    assert!(error_of(r#"{ "max_attempts": 0 }"#).contains("max_attempts"));
    assert!(error_of(r#"{ "max_total_time": "0s" }"#).contains("max_total_time"));
    assert!(error_of(r#"{ "backoff": { "kind": "constant", "base": "0s" } }"#).contains("base"));
    assert!(
        error_of(r#"{ "backoff": { "kind": "exponential", "base": "1s", "factor": 0.5 } }"#)
            .contains("factor")
    );
    assert!(
        error_of(r#"{ "backoff": { "kind": "linear", "base": "1s", "factor": 2 } }"#)
            .contains("factor")
    );
    assert!(
        error_of(r#"{ "backoff": { "kind": "linear", "base": "1s", "cap": "500ms" } }"#)
            .contains("cap")
    );
    assert!(error_of(r#"{ "budget": { "percent": 2000 } }"#).contains("percent"));
    assert!(error_of(r#"{ "budget": { "buckets": 0 } }"#).contains("buckets"));
    assert!(error_of(r#"{ "budget": { "window": "0s" } }"#).contains("window"));
}

#[test]
fn unknown_fields_and_bad_values_are_errors() {
    let err = error_of(r#"{ "max_attempt": 3 }"#);
    assert!(err.contains("max_attempt"), "{err}");
    let err = error_of(r#"{ "backoff": { "kind": "constant", "base": "1s", "step": 1 } }"#);
    assert!(err.contains("step"), "{err}");
    let err = error_of(r#"{ "budget": { "ratio": 0.2 } }"#);
    assert!(err.contains("ratio"), "{err}");
    let err = error_of(r#"{ "backoff": { "kind": "fibonacci", "base": "1s" } }"#);
    assert!(err.contains("fibonacci"), "{err}");
    let err = error_of(r#"{ "backoff": { "kind": "constant", "base": "1s", "jitter": "some" } }"#);
    assert!(err.contains("some"), "{err}");
    let err = error_of(r#"{ "min_attempt_time": "soon" }"#);
    assert!(err.contains("invalid duration"), "{err}");
    let err = error_of(r#"{ "backoff": { "base": "1s" } }"#);
    assert!(err.contains("kind"), "{err}");
}

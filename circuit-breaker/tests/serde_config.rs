//! Reading a breaker's config from a file (feature `serde`).
#![cfg(feature = "serde")]

use ballast_circuit_breaker::{Config, GradualRecovery, OpenBackoff, SlidingWindow};
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

/// Two configs are the same when every field is (Config has no PartialEq;
/// its Debug shows every field).
fn assert_same(a: &Config, b: &Config) {
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

const FULL: &str = r#"{
    "name": "inventory",
    "failure_rate_threshold": 40,
    "slow_call_rate_threshold": 80.5,
    "slow_call_duration": "2s",
    "sliding_window": { "type": "time", "duration": "60s", "buckets": 12 },
    "minimum_calls": 20,
    "wait_in_open": "30s",
    "open_backoff": { "multiplier": 2.0, "max": "5m", "jitter": 0.2 },
    "half_open_permits": 5,
    "max_wait_in_half_open": "1m",
    "automatic_half_open": true,
    "gradual_recovery": { "duration": "1m", "start_percent": 25 },
    "cancelled_is_failure": true,
    "seed": 42
}"#;

fn full_by_builder() -> Config {
    Config::builder()
        .name("inventory")
        .failure_rate_threshold(40.0)
        .slow_call_rate_threshold(80.5)
        .slow_call_duration(Duration::from_secs(2))
        .sliding_window(SlidingWindow::time_with_buckets(
            Duration::from_secs(60),
            12,
        ))
        .minimum_calls(20)
        .wait_in_open(Duration::from_secs(30))
        .open_backoff(OpenBackoff::exponential(2.0, Duration::from_secs(300)).jitter(0.2))
        .half_open_permits(5)
        .max_wait_in_half_open(Duration::from_secs(60))
        .automatic_half_open(true)
        .gradual_recovery(GradualRecovery::over(Duration::from_secs(60)).starting_at(25.0))
        .cancelled_is_failure(true)
        .seed(42)
        .build()
        .unwrap()
}

#[test]
fn every_field_reads_from_json_as_the_builder_would_set_it() {
    let config = from_json(FULL).unwrap();
    assert_eq!(config.name(), "inventory");
    assert_eq!(config.failure_rate_threshold(), 40.0);
    assert_eq!(config.slow_call_duration(), Some(Duration::from_secs(2)));
    assert_eq!(
        config.sliding_window(),
        SlidingWindow::time_with_buckets(Duration::from_secs(60), 12)
    );
    assert_eq!(config.half_open_permits(), 5);
    assert_same(&config, &full_by_builder());
}

#[test]
fn missing_fields_keep_the_builder_defaults() {
    assert_same(&from_json("{}").unwrap(), &Config::default());

    let config = from_json(r#"{ "name": "payments", "minimum_calls": 10 }"#).unwrap();
    let expected = Config::builder()
        .name("payments")
        .minimum_calls(10)
        .build()
        .unwrap();
    assert_same(&config, &expected);
}

#[test]
fn optional_parts_of_nested_settings_default_like_their_constructors() {
    let config = from_json(
        r#"{
            "sliding_window": { "type": "time", "duration": "10s" },
            "open_backoff": { "multiplier": 3, "max": "10m" },
            "gradual_recovery": { "duration": "30s" }
        }"#,
    )
    .unwrap();
    let expected = Config::builder()
        .sliding_window(SlidingWindow::time(Duration::from_secs(10)))
        .open_backoff(OpenBackoff::exponential(3.0, Duration::from_secs(600)))
        .gradual_recovery(GradualRecovery::over(Duration::from_secs(30)))
        .build()
        .unwrap();
    assert_same(&config, &expected);

    let config =
        from_json(r#"{ "sliding_window": { "type": "count", "size": 50 }, "minimum_calls": 50 }"#)
            .unwrap();
    assert_eq!(config.sliding_window(), SlidingWindow::count(50));
}

#[test]
fn durations_read_as_human_strings_or_seconds() {
    for (written, expected) in [
        (r#""250ms""#, Duration::from_millis(250)),
        (r#""1m30s""#, Duration::from_secs(90)),
        (r#""1.5s""#, Duration::from_millis(1500)),
        ("3", Duration::from_secs(3)),
        ("0.5", Duration::from_millis(500)),
    ] {
        let config = from_json(&format!(r#"{{ "slow_call_duration": {written} }}"#)).unwrap();
        assert_eq!(config.slow_call_duration(), Some(expected), "{written}");
    }
    let e = error_of(r#"{ "wait_in_open": "soon" }"#);
    assert!(e.contains("invalid duration"), "{e}");
}

#[test]
fn unknown_fields_are_rejected_at_every_level() {
    let e = error_of(r#"{ "failure_rate_treshold": 50 }"#);
    assert!(e.contains("unknown field `failure_rate_treshold`"), "{e}");

    let e = error_of(r#"{ "open_backoff": { "multiplier": 2, "max": "1m", "jiter": 0.1 } }"#);
    assert!(e.contains("unknown field `jiter`"), "{e}");

    let e = error_of(r#"{ "sliding_window": { "type": "count", "size": 10, "buckets": 2 } }"#);
    assert!(e.contains("unknown field `buckets`"), "{e}");

    let e = error_of(r#"{ "sliding_window": { "type": "ring", "size": 10 } }"#);
    assert!(e.contains("unknown variant `ring`"), "{e}");
}

#[test]
fn invalid_values_are_errors_naming_the_field() {
    for (json, field) in [
        (
            r#"{ "failure_rate_threshold": 120 }"#,
            "failure_rate_threshold",
        ),
        (
            r#"{ "slow_call_rate_threshold": 0 }"#,
            "slow_call_rate_threshold",
        ),
        (r#"{ "half_open_permits": 0 }"#, "half_open_permits"),
        (r#"{ "wait_in_open": "0s" }"#, "wait_in_open"),
        (
            r#"{ "sliding_window": { "type": "count", "size": 10 } }"#,
            // the default minimum_calls (100) exceeds the window
            "minimum_calls",
        ),
        (
            r#"{ "sliding_window": { "type": "time", "duration": "1s", "buckets": 0 } }"#,
            "sliding_window",
        ),
        (
            r#"{ "open_backoff": { "multiplier": 2, "max": "1s" } }"#,
            // max below the default 60s wait_in_open
            "open_backoff",
        ),
        (
            r#"{ "gradual_recovery": { "duration": "1m", "start_percent": 0 } }"#,
            "gradual_recovery",
        ),
    ] {
        let e = error_of(json);
        assert!(e.contains("invalid circuit breaker config"), "{json}: {e}");
        assert!(e.contains(field), "{json}: {e}");
    }

    let e = error_of(r#"{ "failure_rate_threshold": 120 }"#);
    assert!(e.contains("got 120"), "{e}");
}

#[test]
fn values_of_the_wrong_type_are_errors_not_panics() {
    for json in [
        r#"{ "half_open_permits": -1 }"#,
        r#"{ "minimum_calls": 1.5 }"#,
        r#"{ "wait_in_open": -3 }"#,
        r#"{ "automatic_half_open": "yes" }"#,
        r#"{ "sliding_window": { "size": 10 } }"#,
        r#"{ "open_backoff": { "max": "1m" } }"#,
        r#""inventory""#,
    ] {
        error_of(json);
    }
}

#[test]
fn a_config_round_trips_through_json() {
    let full = full_by_builder();
    let json = serde_json::to_string(&full).unwrap();
    assert_same(&from_json(&json).unwrap(), &full);

    for config in [
        Config::default(),
        Config::builder()
            .sliding_window(SlidingWindow::count(7))
            .minimum_calls(3)
            .wait_in_open(Duration::from_millis(1500))
            // no cap: written without `max`
            .open_backoff(OpenBackoff::constant().jitter(0.1))
            .build()
            .unwrap(),
    ] {
        let json = serde_json::to_string(&config).unwrap();
        assert_same(&from_json(&json).unwrap(), &config);
    }
}

#[test]
fn serialized_config_uses_the_documented_shape() {
    let value = serde_json::to_value(full_by_builder()).unwrap();
    let expected: serde_json::Value = serde_json::from_str(
        r#"{
            "name": "inventory",
            "failure_rate_threshold": 40.0,
            "slow_call_rate_threshold": 80.5,
            "slow_call_duration": "2s",
            "sliding_window": { "type": "time", "duration": "1m", "buckets": 12 },
            "minimum_calls": 20,
            "wait_in_open": "30s",
            "open_backoff": { "multiplier": 2.0, "max": "5m", "jitter": 0.2 },
            "half_open_permits": 5,
            "max_wait_in_half_open": "1m",
            "automatic_half_open": true,
            "gradual_recovery": { "duration": "1m", "start_percent": 25.0 },
            "cancelled_is_failure": true,
            "seed": 42
        }"#,
    )
    .unwrap();
    assert_eq!(value, expected);

    // Settings that are off are left out rather than written as null.
    let value = serde_json::to_value(Config::default()).unwrap();
    for off in [
        "slow_call_duration",
        "open_backoff",
        "max_wait_in_half_open",
        "gradual_recovery",
        "seed",
    ] {
        assert!(value.get(off).is_none(), "{off} in {value}");
    }
}

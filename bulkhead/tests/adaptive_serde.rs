//! Reading an adaptive limiter's config from a file (feature `serde`).
#![cfg(feature = "serde")]

use ballast_bulkhead::adaptive::{AdaptiveConfig, Aimd, Algorithm, Gradient2, Vegas};
use std::time::Duration;

fn from_json(json: &str) -> Result<AdaptiveConfig, serde_json::Error> {
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
fn a_full_config_matches_the_builder() {
    let config = from_json(
        r#"{
            "name": "inventory",
            "initial_limit": 30,
            "min_limit": 2,
            "max_limit": 500,
            "min_window_samples": 20,
            "shadow": true,
            "algorithm": { "aimd": { "backoff_ratio": 0.8, "timeout": "2s" } }
        }"#,
    )
    .unwrap();
    let built = AdaptiveConfig::builder()
        .name("inventory")
        .initial_limit(30)
        .min_limit(2)
        .max_limit(500)
        .min_window_samples(20)
        .shadow(true)
        .algorithm(
            Aimd::builder()
                .backoff_ratio(0.8)
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(config, built);
}

#[test]
fn each_algorithm_reads_its_own_settings_and_defaults_the_rest() {
    let vegas = from_json(r#"{ "algorithm": { "vegas": { "alpha": 2, "beta": 5, "slow_start": false, "probe_interval": 0, "smoothing": 0.5 } } }"#).unwrap();
    let expected = Vegas::builder()
        .alpha(2.0)
        .beta(5.0)
        .slow_start(false)
        .probe_interval(0)
        .smoothing(0.5)
        .build()
        .unwrap();
    assert_eq!(vegas.algorithm(), &Algorithm::Vegas(expected));

    let g = from_json(r#"{ "algorithm": { "gradient2": { "tolerance": 1.5, "queue_size": 6, "smoothing": 0.3 } } }"#).unwrap();
    let expected = Gradient2::builder()
        .tolerance(1.5)
        .queue_size(6)
        .smoothing(0.3)
        .build()
        .unwrap();
    assert_eq!(g.algorithm(), &Algorithm::Gradient2(expected));

    let defaults = from_json(r#"{ "algorithm": { "gradient2": {} } }"#).unwrap();
    assert_eq!(
        defaults.algorithm(),
        &Algorithm::Gradient2(Gradient2::default())
    );
    assert_eq!(from_json("{}").unwrap(), AdaptiveConfig::default());
}

#[test]
fn invalid_values_are_refused_with_the_config_error() {
    let msg = error_of(r#"{ "min_limit": 10, "max_limit": 5 }"#);
    assert!(msg.contains("max_limit"), "{msg}");
    let msg = error_of(r#"{ "algorithm": { "aimd": { "backoff_ratio": 1.5 } } }"#);
    assert!(msg.contains("backoff_ratio"), "{msg}");
    let msg = error_of(r#"{ "algorithm": { "vegas": { "alpha": 7 } } }"#);
    assert!(msg.contains("beta"), "{msg}");
}

#[test]
fn unknown_fields_and_algorithms_are_refused() {
    let msg = error_of(r#"{ "limit": 10 }"#);
    assert!(msg.contains("unknown field"), "{msg}");
    let msg = error_of(r#"{ "algorithm": { "bbr": {} } }"#);
    assert!(msg.contains("unknown variant"), "{msg}");
    let msg = error_of(r#"{ "algorithm": { "aimd": { "ratio": 0.5 } } }"#);
    assert!(msg.contains("unknown field"), "{msg}");
}

#[test]
fn durations_read_as_human_strings_or_seconds() {
    let c = from_json(r#"{ "algorithm": { "aimd": { "timeout": 3 } } }"#).unwrap();
    let Algorithm::Aimd(aimd) = c.algorithm() else {
        panic!("aimd")
    };
    assert_eq!(aimd.timeout(), Duration::from_secs(3));
}

#[test]
fn a_config_written_out_reads_back_equal() {
    let algorithms: [Algorithm; 3] = [
        Aimd::builder()
            .backoff_ratio(0.75)
            .timeout(Duration::from_millis(1500))
            .build()
            .unwrap()
            .into(),
        Vegas::builder()
            .alpha(2.0)
            .beta(4.5)
            .probe_interval(7)
            .build()
            .unwrap()
            .into(),
        Gradient2::builder()
            .tolerance(1.25)
            .queue_size(2)
            .build()
            .unwrap()
            .into(),
    ];
    for algorithm in algorithms {
        let config = AdaptiveConfig::builder()
            .name("inventory")
            .min_limit(3)
            .max_limit(300)
            .shadow(true)
            .algorithm(algorithm)
            .build()
            .unwrap();
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(from_json(&json).unwrap(), config, "{json}");
    }
}

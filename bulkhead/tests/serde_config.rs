//! Reading a bulkhead's config from a file (feature `serde`).
#![cfg(feature = "serde")]

use ballast_bulkhead::Config;
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
            "name": "inventory",
            "max_concurrent_calls": 10,
            "max_wait": "1m30s",
            "max_queue_len": 20,
            "shadow": true
        }"#,
    )
    .unwrap();
    let built = Config::builder()
        .name("inventory")
        .max_concurrent_calls(10)
        .max_wait(Duration::from_secs(90))
        .max_queue_len(20)
        .shadow(true)
        .build()
        .unwrap();
    assert_eq!(config, built);
    assert_eq!(config.max_queue_len(), 20);
    assert!(config.shadow());
}

#[test]
fn empty_config_is_the_default() {
    assert_eq!(from_json("{}").unwrap(), Config::default());
}

#[test]
fn max_wait_reads_strings_and_seconds() {
    let c = from_json(r#"{ "max_wait": "250ms" }"#).unwrap();
    assert_eq!(c.max_wait(), Duration::from_millis(250));
    let c = from_json(r#"{ "max_wait": 2 }"#).unwrap();
    assert_eq!(c.max_wait(), Duration::from_secs(2));
}

#[test]
fn invalid_values_are_errors_with_the_config_message() {
    let err = error_of(r#"{ "max_concurrent_calls": 0 }"#);
    assert!(err.contains("max_concurrent_calls"), "{err}");
    let err = error_of(r#"{ "max_wait": "10ms", "max_queue_len": 0 }"#);
    assert!(err.contains("max_queue_len"), "{err}");
}

#[test]
fn unknown_fields_and_bad_durations_are_errors() {
    let err = error_of(r#"{ "max_concurrency": 5 }"#);
    assert!(err.contains("max_concurrency"), "{err}");
    let err = error_of(r#"{ "max_wait": "soon" }"#);
    assert!(err.contains("invalid duration"), "{err}");
    let err = error_of(r#"{ "max_concurrent_calls": -1 }"#);
    assert!(err.contains("-1"), "{err}");
}

#[test]
fn configs_round_trip_through_json() {
    let configs = [
        Config::default(),
        Config::builder()
            .name("a")
            .max_concurrent_calls(3)
            .max_wait(Duration::from_millis(1500))
            .max_queue_len(7)
            .build()
            .unwrap(),
        // A queue length without a wait: a queue bounded by the deadline.
        Config::builder().max_queue_len(5).build().unwrap(),
    ];
    for config in configs {
        let json = serde_json::to_string(&config).unwrap();
        let back: Config = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config, "{json}");
    }
}

mod shed {
    use ballast_bulkhead::shed::{Priority, ShedConfig};

    #[test]
    fn full_config_matches_the_builder() {
        let config: ShedConfig = serde_json::from_str(
            r#"{
                "name": "api",
                "max_in_flight": 200,
                "thresholds": { "critical": 100, "high": 90, "normal": 80, "low": 50 },
                "shadow": true
            }"#,
        )
        .unwrap();
        let built = ShedConfig::builder()
            .name("api")
            .max_in_flight(200)
            .threshold(Priority::Low, 50)
            .shadow(true)
            .build()
            .unwrap();
        assert_eq!(config, built);
    }

    #[test]
    fn empty_config_is_the_default_and_a_partial_threshold_keeps_the_others() {
        let c: ShedConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, ShedConfig::default());
        let c: ShedConfig = serde_json::from_str(r#"{ "thresholds": { "low": 10 } }"#).unwrap();
        assert_eq!(c.thresholds().percent(Priority::Low), 10);
        assert_eq!(c.thresholds().percent(Priority::Normal), 80);
    }

    #[test]
    fn invalid_values_and_unknown_fields_are_errors() {
        let err = serde_json::from_str::<ShedConfig>(r#"{ "thresholds": { "low": 95 } }"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("threshold_normal"), "{err}");
        let err = serde_json::from_str::<ShedConfig>(r#"{ "max_in_flight": 0 }"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_in_flight"), "{err}");
        let err = serde_json::from_str::<ShedConfig>(r#"{ "thresholds": { "lowest": 5 } }"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lowest"), "{err}");
    }

    #[test]
    fn configs_round_trip_and_priorities_read_in_lowercase() {
        let config = ShedConfig::builder()
            .max_in_flight(7)
            .threshold(Priority::High, 95)
            .build()
            .unwrap();
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<ShedConfig>(&json).unwrap(), config);
        let p: Priority = serde_json::from_str(r#""critical""#).unwrap();
        assert_eq!(p, Priority::Critical);
    }
}

mod partitioned {
    use ballast_bulkhead::partitioned::PartitionedConfig;

    #[test]
    fn full_config_matches_the_builder() {
        let config: PartitionedConfig = serde_json::from_str(
            r#"{
                "name": "tenants",
                "max_concurrent_calls": 10,
                "partitions": [{ "name": "acme", "share": 6 }, { "name": "globex", "share": 2 }],
                "default_partition": "others",
                "kept_free": 2,
                "shadow": true
            }"#,
        )
        .unwrap();
        let built = PartitionedConfig::builder()
            .name("tenants")
            .max_concurrent_calls(10)
            .partition("acme", 6)
            .partition("globex", 2)
            .default_partition("others")
            .kept_free(2)
            .shadow(true)
            .build()
            .unwrap();
        assert_eq!(config, built);
        assert_eq!(config.default_share(), 2);
    }

    #[test]
    fn invalid_values_and_unknown_fields_are_errors() {
        let err = serde_json::from_str::<PartitionedConfig>(
            r#"{ "max_concurrent_calls": 3, "partitions": [{ "name": "a", "share": 4 }] }"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("more than max_concurrent_calls"), "{err}");
        let err = serde_json::from_str::<PartitionedConfig>(
            r#"{ "partitions": [{ "name": "a", "share": 1, "weight": 2 }] }"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("weight"), "{err}");
    }

    #[test]
    fn configs_round_trip_in_order() {
        let config = PartitionedConfig::builder()
            .partition("z", 3)
            .partition("a", 1)
            .build()
            .unwrap();
        let json = serde_json::to_string(&config).unwrap();
        let back: PartitionedConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config, "{json}");
        assert_eq!(
            back.partitions().collect::<Vec<_>>(),
            vec![("z", 3), ("a", 1)]
        );
        assert_eq!(
            serde_json::from_str::<PartitionedConfig>("{}").unwrap(),
            PartitionedConfig::default()
        );
    }
}

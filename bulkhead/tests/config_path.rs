//! A config read from a file names the bad value's key path as written
//! in the file, through `ballast_core::config_file`, however deeply the
//! application nests it.
#![cfg(feature = "serde")]

use ballast_core::ConfigError;
use ballast_test_support::config_path::{self, AppConfig};

fn read(file: &str) -> Result<AppConfig<ballast_bulkhead::Config>, ConfigError> {
    config_path::read(file)
}

#[test]
fn an_invalid_value_in_a_nested_file_names_its_full_key_path() {
    let err =
        read(r#"{ "services": { "inventory": { "bulkhead": { "max_concurrent_calls": 0 } } } }"#)
            .unwrap_err();
    assert_eq!(
        err.path(),
        Some("services.inventory.bulkhead.max_concurrent_calls"),
        "{err}"
    );
    assert_eq!(err.component(), "bulkhead");
    assert_eq!(err.field(), "max_concurrent_calls");
    let message = err.to_string();
    assert!(
        message.contains("at `services.inventory.bulkhead.max_concurrent_calls`"),
        "{message}"
    );
}

#[test]
fn a_malformed_value_names_its_key_path_too() {
    let file = r#"{ "services": { "inventory": { "bulkhead": { "no_such_key": 1 } } } }"#;
    let err = read(file).unwrap_err();
    assert_eq!(err.component(), "file");
    assert!(
        err.path()
            .unwrap()
            .starts_with("services.inventory.bulkhead"),
        "{err}"
    );
}

/// The error read from `config` (JSON) of type `T` under
/// `services.inventory.<key>`.
fn error_in<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    key: &str,
    config: &str,
) -> ConfigError {
    let file = format!(r#"{{ "services": {{ "inventory": {{ "{key}": {config} }} }} }}"#);
    config_path::read::<T>(&file).unwrap_err()
}

#[test]
fn an_invalid_partitioned_bulkhead_names_its_key_path() {
    use ballast_bulkhead::partitioned::PartitionedConfig;
    let err = error_in::<PartitionedConfig>("tenants", r#"{ "max_concurrent_calls": 0 }"#);
    assert_eq!(
        err.path(),
        Some("services.inventory.tenants.max_concurrent_calls"),
        "{err}"
    );
    assert_eq!(err.component(), "partitioned bulkhead");
    // A partition's problem is found in the list of partitions.
    let shares = r#"{ "max_concurrent_calls": 4, "partitions": [ { "name": "a", "share": 3 }, { "name": "b", "share": 3 } ] }"#;
    let err = error_in::<PartitionedConfig>("tenants", shares);
    assert_eq!(
        err.path(),
        Some("services.inventory.tenants.partitions"),
        "{err}"
    );
}

#[test]
fn an_invalid_adaptive_limiter_names_its_key_path_into_its_algorithm() {
    use ballast_bulkhead::adaptive::AdaptiveConfig;
    let err = error_in::<AdaptiveConfig>("adaptive", r#"{ "min_limit": 0 }"#);
    assert_eq!(
        err.path(),
        Some("services.inventory.adaptive.min_limit"),
        "{err}"
    );
    let err = error_in::<AdaptiveConfig>(
        "adaptive",
        r#"{ "algorithm": { "vegas": { "alpha": -1.0 } } }"#,
    );
    assert_eq!(
        err.path(),
        Some("services.inventory.adaptive.algorithm.vegas.alpha"),
        "{err}"
    );
    assert_eq!(err.component(), "adaptive vegas");
}

#[test]
fn an_invalid_load_shedder_names_its_key_path_into_its_thresholds() {
    use ballast_bulkhead::shed::ShedConfig;
    let err = error_in::<ShedConfig>("shedder", r#"{ "max_in_flight": 0 }"#);
    assert_eq!(
        err.path(),
        Some("services.inventory.shedder.max_in_flight"),
        "{err}"
    );
    let err = error_in::<ShedConfig>("shedder", r#"{ "thresholds": { "low": 0 } }"#);
    assert_eq!(
        err.path(),
        Some("services.inventory.shedder.thresholds.low"),
        "{err}"
    );
    assert_eq!(err.component(), "load shedder");
}

//! A config read from a file names the bad value's key path as written
//! in the file, through `ballast_core::config_file`, however deeply the
//! application nests it.
#![cfg(feature = "serde")]

use ballast_core::ConfigError;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Deserialize)]
struct AppConfig {
    #[allow(dead_code)]
    services: HashMap<String, Service>,
}

#[derive(Debug, Deserialize)]
struct Service {
    #[allow(dead_code)]
    retry: ballast_retry::Config,
}

fn read(file: &str) -> Result<AppConfig, ConfigError> {
    ballast_core::config_file::from_deserializer(&mut serde_json::Deserializer::from_str(file))
}

#[test]
fn an_invalid_value_in_a_nested_file_names_its_full_key_path() {
    let err = read(r#"{ "services": { "inventory": { "retry": { "max_attempts": 3, "budget": { "percent": 1200 } } } } }"#).unwrap_err();
    assert_eq!(
        err.path(),
        Some("services.inventory.retry.budget.percent"),
        "{err}"
    );
    assert_eq!(err.component(), "retry budget");
    assert_eq!(err.field(), "percent");
    let message = err.to_string();
    assert!(
        message.contains("at `services.inventory.retry.budget.percent`"),
        "{message}"
    );
}

#[test]
fn a_malformed_value_names_its_key_path_too() {
    let file = r#"{ "services": { "inventory": { "retry": { "no_such_key": 1 } } } }"#;
    let err = read(file).unwrap_err();
    assert_eq!(err.component(), "file");
    assert!(
        err.path().unwrap().starts_with("services.inventory.retry"),
        "{err}"
    );
}

#[test]
fn a_bad_backoff_names_its_key_under_backoff() {
    let file = r#"{ "services": { "inventory": { "retry": { "backoff": { "kind": "exponential", "base": "0s" } } } } }"#;
    let err = read(file).unwrap_err();
    assert_eq!(
        err.path(),
        Some("services.inventory.retry.backoff.base"),
        "{err}"
    );
}

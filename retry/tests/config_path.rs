//! A config read from a file names the bad value's key path as written
//! in the file, through `ballast_core::config_file`, however deeply the
//! application nests it.
#![cfg(feature = "serde")]

use ballast_core::ConfigError;
use ballast_test_support::config_path::{self, AppConfig};

fn read(file: &str) -> Result<AppConfig<ballast_retry::Config>, ConfigError> {
    config_path::read(file)
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

/// The error read from a hedge config `hedge` (JSON) under
/// `services.inventory.hedge`.
fn hedge_error(hedge: &str) -> ConfigError {
    let file = format!(r#"{{ "services": {{ "inventory": {{ "hedge": {hedge} }} }} }}"#);
    config_path::read::<ballast_retry::HedgeConfig>(&file).unwrap_err()
}

#[test]
fn an_invalid_hedge_config_names_its_key_path() {
    let err = hedge_error(r#"{ "max_hedges": 0 }"#);
    assert_eq!(
        err.path(),
        Some("services.inventory.hedge.max_hedges"),
        "{err}"
    );
    assert_eq!(err.component(), "hedge");
    let err = hedge_error(r#"{ "delay": { "percentile": 120 } }"#);
    assert_eq!(
        err.path(),
        Some("services.inventory.hedge.delay.percentile"),
        "{err}"
    );
    let err = hedge_error(r#"{ "delay": "0s" }"#);
    assert_eq!(err.path(), Some("services.inventory.hedge.delay"), "{err}");
    let err = hedge_error(r#"{ "budget": { "percent": 1200 } }"#);
    assert_eq!(
        err.path(),
        Some("services.inventory.hedge.budget.percent"),
        "{err}"
    );
}

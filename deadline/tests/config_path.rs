//! A config read from a file names the bad value's key path as written
//! in the file, through `ballast_core::config_file`, however deeply the
//! application nests it.
#![cfg(feature = "serde")]

use ballast_core::ConfigError;
use ballast_test_support::config_path::{self, AppConfig};

fn read(file: &str) -> Result<AppConfig<ballast_deadline::Config>, ConfigError> {
    config_path::read(file)
}

#[test]
fn an_invalid_value_in_a_nested_file_names_its_full_key_path() {
    let err = read(r#"{ "services": { "inventory": { "deadline": { "timeout": "0s" } } } }"#)
        .unwrap_err();
    assert_eq!(
        err.path(),
        Some("services.inventory.deadline.timeout"),
        "{err}"
    );
    assert_eq!(err.component(), "deadline");
    assert_eq!(err.field(), "timeout");
    let message = err.to_string();
    assert!(
        message.contains("at `services.inventory.deadline.timeout`"),
        "{message}"
    );
}

#[test]
fn a_malformed_value_names_its_key_path_too() {
    let file = r#"{ "services": { "inventory": { "deadline": { "no_such_key": 1 } } } }"#;
    let err = read(file).unwrap_err();
    assert_eq!(err.component(), "file");
    assert!(
        err.path()
            .unwrap()
            .starts_with("services.inventory.deadline"),
        "{err}"
    );
}

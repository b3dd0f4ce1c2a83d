//! A config read from a file names the bad value's key path as written
//! in the file, through `ballast_core::config_file`, however deeply the
//! application nests it.
#![cfg(feature = "serde")]

use ballast_core::ConfigError;
use ballast_test_support::config_path::{self, AppConfig};

fn read(file: &str) -> Result<AppConfig<ballast_circuit_breaker::Config>, ConfigError> {
    config_path::read(file)
}

#[test]
fn an_invalid_value_in_a_nested_file_names_its_full_key_path() {
    let err = read(r#"{ "services": { "inventory": { "breaker": { "name": "inventory", "minimum_calls": 0 } } } }"#).unwrap_err();
    assert_eq!(
        err.path(),
        Some("services.inventory.breaker.minimum_calls"),
        "{err}"
    );
    assert_eq!(err.component(), "circuit breaker");
    assert_eq!(err.field(), "minimum_calls");
    let message = err.to_string();
    assert!(
        message.contains("at `services.inventory.breaker.minimum_calls`"),
        "{message}"
    );
}

#[test]
fn a_malformed_value_names_its_key_path_too() {
    let file = r#"{ "services": { "inventory": { "breaker": { "no_such_key": 1 } } } }"#;
    let err = read(file).unwrap_err();
    assert_eq!(err.component(), "file");
    assert!(
        err.path()
            .unwrap()
            .starts_with("services.inventory.breaker"),
        "{err}"
    );
}

/// The path of the error in a breaker config `breaker` (JSON) read under
/// `services.inventory.breaker`.
fn path_of(breaker: &str) -> String {
    let file = format!(r#"{{ "services": {{ "inventory": {{ "breaker": {breaker} }} }} }}"#);
    let err = read(&file).unwrap_err();
    assert_eq!(err.component(), "circuit breaker", "{err}");
    err.path().expect("a path").to_owned()
}

#[test]
fn an_invalid_open_backoff_names_the_key_inside_it() {
    let at = |backoff: &str| {
        path_of(&format!(
            r#"{{ "wait_in_open": "30s", "open_backoff": {backoff} }}"#
        ))
    };
    let root = "services.inventory.breaker.open_backoff";
    assert_eq!(
        at(r#"{ "multiplier": 2.0, "max": "10s" }"#),
        format!("{root}.max")
    );
    assert_eq!(at(r#"{ "multiplier": 0.5 }"#), format!("{root}.multiplier"));
    assert_eq!(
        at(r#"{ "multiplier": 2.0, "jitter": 1.5 }"#),
        format!("{root}.jitter")
    );
}

#[test]
fn an_invalid_sliding_window_names_the_key_inside_it() {
    let at = |window: &str| path_of(&format!(r#"{{ "sliding_window": {window} }}"#));
    let root = "services.inventory.breaker.sliding_window";
    assert_eq!(
        at(r#"{ "type": "count", "size": 0 }"#),
        format!("{root}.size")
    );
    assert_eq!(
        at(r#"{ "type": "time", "duration": "60s", "buckets": 0 }"#),
        format!("{root}.buckets")
    );
    assert_eq!(
        at(r#"{ "type": "time", "duration": "5ms", "buckets": 10 }"#),
        format!("{root}.duration")
    );
}

#[test]
fn an_invalid_gradual_recovery_names_the_key_inside_it() {
    let at = |recovery: &str| path_of(&format!(r#"{{ "gradual_recovery": {recovery} }}"#));
    let root = "services.inventory.breaker.gradual_recovery";
    assert_eq!(at(r#"{ "duration": "0s" }"#), format!("{root}.duration"));
    assert_eq!(
        at(r#"{ "duration": "1m", "start_percent": 0 }"#),
        format!("{root}.start_percent")
    );
}

#[test]
fn read_without_the_reader_the_error_still_says_which_key_in_words() {
    let err = serde_json::from_str::<ballast_circuit_breaker::Config>(r#"{ "minimum_calls": 0 }"#)
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "invalid circuit breaker config at `minimum_calls`: minimum_calls must be at least 1"
        ),
        "{err}"
    );
}

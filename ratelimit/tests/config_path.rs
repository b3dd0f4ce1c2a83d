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
    ratelimit: ballast_ratelimit::Config,
}

fn read(file: &str) -> Result<AppConfig, ConfigError> {
    ballast_core::config_file::from_deserializer(&mut serde_json::Deserializer::from_str(file))
}

#[test]
fn an_invalid_value_in_a_nested_file_names_its_full_key_path() {
    let err = read(r#"{ "services": { "inventory": { "ratelimit": { "limit": { "type": "rate", "cells": 0, "per": "1s" } } } } }"#).unwrap_err();
    assert_eq!(
        err.path(),
        Some("services.inventory.ratelimit.limit.cells"),
        "{err}"
    );
    assert_eq!(err.component(), "rate limiter");
    assert_eq!(err.field(), "rate");
    let message = err.to_string();
    assert!(
        message.contains("at `services.inventory.ratelimit.limit.cells`"),
        "{message}"
    );
}

#[test]
fn a_malformed_value_names_its_key_path_too() {
    let file = r#"{ "services": { "inventory": { "ratelimit": { "no_such_key": 1 } } } }"#;
    let err = read(file).unwrap_err();
    assert_eq!(err.component(), "file");
    assert!(
        err.path()
            .unwrap()
            .starts_with("services.inventory.ratelimit"),
        "{err}"
    );
}

#[test]
fn a_bad_window_names_its_key_under_limit() {
    let file = r#"{ "services": { "inventory": { "ratelimit": { "limit": { "type": "fixed_window", "limit": 10, "window": "0s" } } } } }"#;
    let err = read(file).unwrap_err();
    assert_eq!(
        err.path(),
        Some("services.inventory.ratelimit.limit.window"),
        "{err}"
    );
}

//! A config read from a file names the bad value's key path as written
//! in the file, through `ballast_core::config_file`, however deeply the
//! application nests it.
#![cfg(feature = "serde")]

use ballast_core::ConfigError;
use ballast_test_support::config_path::{self, AppConfig};

fn read(file: &str) -> Result<AppConfig<ballast_ratelimit::Config>, ConfigError> {
    config_path::read(file)
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

/// The error read from a Redis limiter config `redis` (JSON) under
/// `services.inventory.redis`.
#[cfg(feature = "redis")]
fn redis_error(redis: &str) -> ConfigError {
    let file = format!(r#"{{ "services": {{ "inventory": {{ "redis": {redis} }} }} }}"#);
    config_path::read::<ballast_ratelimit::redis::RedisConfig>(&file).unwrap_err()
}

#[cfg(feature = "redis")]
#[test]
fn an_invalid_redis_limiter_config_names_its_key_path() {
    let err = redis_error(r#"{ "rate": { "cells": 0, "per": "1s" } }"#);
    assert_eq!(
        err.path(),
        Some("services.inventory.redis.rate.cells"),
        "{err}"
    );
    let err = redis_error(r#"{ "rate": { "cells": 10, "per": "1s" }, "burst": 0 }"#);
    assert_eq!(err.path(), Some("services.inventory.redis.burst"), "{err}");
    // The breaker guarding Redis is a config of its own, nested.
    let err = redis_error(r#"{ "breaker": { "minimum_calls": 0 } }"#);
    assert_eq!(
        err.path(),
        Some("services.inventory.redis.breaker.minimum_calls"),
        "{err}"
    );
    assert_eq!(err.component(), "circuit breaker");
}

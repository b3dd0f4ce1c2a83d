//! Reading a Redis limiter's config from a file (features `redis` and `serde`).

use ballast_ratelimit::redis::{Fallback, RedisConfig};
use std::time::Duration;

fn from_json(json: &str) -> Result<RedisConfig, serde_json::Error> {
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
            "name": "api",
            "rate": { "cells": 100, "per": "1s" },
            "burst": 20,
            "key_prefix": "myapp:rl:api:",
            "timeout": "20ms",
            "fallback": { "type": "local", "instances": 4 },
            "shadow": true,
            "breaker": { "name": "api-redis", "minimum_calls": 5, "wait_in_open": "2s" }
        }"#,
    )
    .unwrap();
    let built = RedisConfig::builder()
        .name("api")
        .rate(100, Duration::from_secs(1))
        .burst(20)
        .key_prefix("myapp:rl:api:")
        .timeout(Duration::from_millis(20))
        .fallback(Fallback::Local { instances: 4 })
        .shadow(true)
        .breaker(
            ballast_circuit_breaker::Config::builder()
                .name("api-redis")
                .minimum_calls(5)
                .wait_in_open(Duration::from_secs(2))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(config, built);
    assert_eq!(config.local_quota().unwrap().burst().get(), 5);
}

#[test]
fn missing_fields_keep_the_builders_defaults() {
    let config = from_json(r#"{ "rate": { "cells": 5, "per": "1m" } }"#).unwrap();
    let built = RedisConfig::builder()
        .rate(5, Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(config, built);
    assert_eq!(config.fallback(), Fallback::FailOpen);
    let closed = from_json(
        r#"{ "rate": { "cells": 5, "per": 60 }, "fallback": { "type": "fail_closed" } }"#,
    )
    .unwrap();
    assert_eq!(closed.fallback(), Fallback::FailClosed);
}

#[test]
fn invalid_values_are_errors_with_the_config_message() {
    assert!(error_of(r#"{}"#).contains("rate"));
    assert!(error_of(r#"{ "rate": { "cells": 0, "per": "1s" } }"#).contains("rate"));
    assert!(error_of(r#"{ "rate": { "cells": 5, "per": "1s" }, "burst": 0 }"#).contains("burst"));
    assert!(
        error_of(r#"{ "rate": { "cells": 5, "per": "1s" }, "key_prefix": "" }"#)
            .contains("key_prefix")
    );
    assert!(
        error_of(r#"{ "rate": { "cells": 5, "per": "1s" }, "timeout": "0s" }"#).contains("timeout")
    );
    assert!(
        error_of(r#"{ "rate": { "cells": 5, "per": "1s" }, "fallback": { "type": "local", "instances": 0 } }"#)
            .contains("instances")
    );
    assert!(
        error_of(r#"{ "rate": { "cells": 5, "per": "1s" }, "colour": "red" }"#).contains("colour")
    );
    assert!(
        error_of(r#"{ "rate": { "cells": 5, "per": "1s" }, "fallback": { "type": "maybe" } }"#)
            .contains("maybe")
    );
}

//! Reading a limiter's config from a file (feature `serde`).
#![cfg(feature = "serde")]

use ballast_ratelimit::{Config, Limit, Mode, Quota};
use std::num::NonZeroU32;
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
fn full_rate_config_matches_the_builder() {
    let config = from_json(
        r#"{
            "name": "search",
            "limit": { "type": "rate", "cells": 100, "per": "1s" },
            "burst": 20,
            "mode": { "type": "wait", "max_wait": "50ms" },
            "shadow": true
        }"#,
    )
    .unwrap();
    let built = Config::builder()
        .name("search")
        .rate(100, Duration::from_secs(1))
        .burst(20)
        .max_wait(Duration::from_millis(50))
        .shadow(true)
        .build()
        .unwrap();
    assert_eq!(config, built);
}

#[test]
fn missing_fields_keep_the_builder_defaults() {
    let config = from_json(r#"{ "limit": { "type": "rate", "cells": 10, "per": 1 } }"#).unwrap();
    let built = Config::builder()
        .rate(10, Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(config, built);
    assert_eq!(config.name(), "ratelimit");
    assert_eq!(config.mode(), Mode::Reject);
    assert!(!config.shadow());
}

#[test]
fn windows_and_reject_mode_are_read() {
    let fixed = from_json(
        r#"{ "limit": { "type": "fixed_window", "limit": 50, "window": "1m30s" },
             "mode": { "type": "reject" } }"#,
    )
    .unwrap();
    let built = Config::builder()
        .fixed_window(50, Duration::from_secs(90))
        .build()
        .unwrap();
    assert_eq!(fixed, built);

    let sliding =
        from_json(r#"{ "limit": { "type": "sliding_window", "limit": 7, "window": "250ms" } }"#)
            .unwrap();
    match sliding.limit() {
        Limit::SlidingWindow(w) => {
            assert_eq!(w.limit(), 7);
            assert_eq!(w.length(), Duration::from_millis(250));
        }
        other => panic!("expected a sliding window, got {other:?}"),
    }
}

#[test]
fn invalid_values_are_errors_with_the_config_message() {
    assert!(error_of("{}").contains("limit"));
    assert!(
        error_of(r#"{ "limit": { "type": "rate", "cells": 0, "per": "1s" } }"#).contains("rate")
    );
    assert!(
        error_of(r#"{ "limit": { "type": "rate", "cells": 5, "per": "1s" }, "burst": 0 }"#)
            .contains("burst")
    );
    assert!(
        error_of(
            r#"{ "limit": { "type": "fixed_window", "limit": 5, "window": "1s" }, "burst": 2 }"#
        )
        .contains("burst")
    );
    assert!(
        error_of(r#"{ "limit": { "type": "sliding_window", "limit": 2000000, "window": "1s" } }"#)
            .contains("sliding window")
    );
}

#[test]
fn unknown_fields_and_bad_durations_are_errors() {
    let err = error_of(r#"{ "limit": { "type": "rate", "cells": 1, "per": "1s" }, "brust": 2 }"#);
    assert!(err.contains("brust"), "{err}");
    let err = error_of(r#"{ "limit": { "type": "rate", "cells": 1, "per": "1s", "x": 1 } }"#);
    assert!(err.contains('x'), "{err}");
    let err = error_of(r#"{ "limit": { "type": "rate", "cells": 1, "per": "soon" } }"#);
    assert!(err.contains("invalid duration"), "{err}");
    let err = error_of(r#"{ "limit": { "type": "token_bucket" } }"#);
    assert!(err.contains("token_bucket"), "{err}");
}

#[test]
fn configs_round_trip_through_json() {
    let configs = [
        Config::builder()
            .name("a")
            .rate(100, Duration::from_secs(1))
            .burst(20)
            .max_wait(Duration::from_millis(50))
            .build()
            .unwrap(),
        // A rate whose interval is rounded (1s / 3) still comes back exact.
        Config::builder()
            .quota(Quota::per_second(NonZeroU32::new(3).unwrap()))
            .shadow(true)
            .build()
            .unwrap(),
        Config::builder()
            .quota(Quota::with_period(Duration::from_millis(250)).unwrap())
            .build()
            .unwrap(),
        Config::builder()
            .fixed_window(10, Duration::from_secs(60))
            .build()
            .unwrap(),
        Config::builder()
            .sliding_window(10, Duration::from_millis(1500))
            .build()
            .unwrap(),
    ];
    for config in configs {
        let json = serde_json::to_string(&config).unwrap();
        let back: Config = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config, "{json}");
    }
}

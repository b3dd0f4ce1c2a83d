//! Every duration a limiter's builder accepts, from one nanosecond to
//! `Duration::MAX` ("forever") and a file's largest number, builds into a
//! limiter that decides without panicking, or is a `ConfigError` naming the
//! field: never a panic on a call.

use ballast_deadline::Deadline;
use ballast_ratelimit::{Config, ConfigBuilder, KeyedRateLimiter, RateLimiter, Reason};
use std::time::Duration;
use tower::{Service, ServiceExt, service_fn};

/// One nanosecond, a millisecond, the largest a file's number of seconds
/// reads as, the largest human string, and `Duration::MAX`.
fn extremes() -> [Duration; 5] {
    [
        Duration::from_nanos(1),
        Duration::from_millis(1),
        Duration::from_secs(u64::MAX),
        Duration::from_nanos(u64::MAX),
        Duration::MAX,
    ]
}

/// Every limit kind over `period`, each without a wait and with each
/// extreme wait.
fn builders(period: Duration) -> Vec<ConfigBuilder> {
    let limits: [fn(Duration) -> ConfigBuilder; 4] = [
        |p| Config::builder().rate(1, p),
        |p| Config::builder().rate(3, p).burst(2),
        |p| Config::builder().fixed_window(2, p),
        |p| Config::builder().sliding_window(2, p),
    ];
    let mut out = Vec::new();
    for limit in limits {
        out.push(limit(period));
        for wait in extremes() {
            out.push(limit(period).max_wait(wait));
        }
    }
    out
}

/// Drives `limiter` through checks, waits (bounded by a deadline, so a
/// "forever" wait ends) and the tower layer.
async fn drive(limiter: &RateLimiter) {
    for _ in 0..4 {
        if let Err(e) = limiter.check() {
            assert_eq!(e.reason(), Reason::RateLimited, "{e}");
        }
    }
    for _ in 0..3 {
        let waited = Deadline::after(Duration::from_millis(20))
            .scope(limiter.until_ready())
            .await;
        if let Err(e) = waited {
            assert!(
                matches!(e.reason(), Reason::RateLimited | Reason::DeadlineExceeded),
                "{e}"
            );
        }
        tokio::time::advance(Duration::from_millis(7)).await;
    }
    let mut svc = tower::ServiceBuilder::new()
        .layer(limiter.layer())
        .service(service_fn(|()| async { Ok::<_, std::io::Error>(()) }));
    for _ in 0..3 {
        let call = svc.ready().await.unwrap().call(());
        let _ = tokio::time::timeout(Duration::from_millis(30), call).await;
    }
}

#[tokio::test(start_paused = true)]
async fn every_extreme_duration_builds_or_is_refused_and_never_panics_a_call() {
    let mut built = 0;
    let mut refused = 0;
    for period in extremes() {
        for builder in builders(period) {
            match builder.build() {
                Ok(config) => {
                    built += 1;
                    drive(&RateLimiter::new(config.clone())).await;
                    let keyed = KeyedRateLimiter::<u64>::new(config);
                    for key in 0..3 {
                        let _ = keyed.check(&key);
                        let _ =
                            tokio::time::timeout(Duration::from_millis(5), keyed.until_ready(&key))
                                .await;
                    }
                }
                Err(e) => {
                    refused += 1;
                    assert!(
                        ["rate", "period", "window", "burst", "limit"].contains(&e.field()),
                        "refused for an unexpected field: {e}"
                    );
                }
            }
        }
    }
    // Both kinds of outcome happen: the test is not vacuous.
    assert!(built > 20, "built {built}");
    assert!(refused > 0, "refused {refused}");
}

#[cfg(feature = "serde")]
#[tokio::test(start_paused = true)]
async fn a_files_largest_numbers_build_or_are_refused_and_never_panic() {
    let huge = [
        "18446744073709551615",
        "\"18446744073709551615ns\"",
        "\"1ns\"",
        "\"1ms\"",
        "1e300",
    ];
    let (mut built, mut refused) = (0, Vec::new());
    for n in huge {
        for wait in huge {
            for limit in [
                format!(r#"{{ "type": "rate", "cells": 2, "per": {n} }}"#),
                format!(r#"{{ "type": "fixed_window", "limit": 2, "window": {n} }}"#),
                format!(r#"{{ "type": "sliding_window", "limit": 2, "window": {n} }}"#),
            ] {
                let json = format!(
                    r#"{{ "limit": {limit}, "mode": {{ "type": "wait", "max_wait": {wait} }} }}"#
                );
                match serde_json::from_str::<Config>(&json) {
                    Ok(config) => {
                        built += 1;
                        drive(&RateLimiter::new(config)).await;
                    }
                    Err(e) => refused.push(format!("{json}: {e}")),
                }
            }
        }
    }
    assert!(built >= 12, "built {built}; refused {refused:#?}");
    for why in &refused {
        assert!(
            why.contains("invalid rate limiter config") || why.contains("float seconds"),
            "{why}"
        );
    }
}

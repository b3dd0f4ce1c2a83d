//! Invalid settings are a `ConfigError` naming the field, never a panic;
//! the boundary values are accepted.

use ballast_circuit_breaker::{
    Breaker, Config, ConfigBuilder, GradualRecovery, MAX_COUNT_WINDOW, MAX_HALF_OPEN_PERMITS,
    MAX_TIME_BUCKETS, OpenBackoff, SlidingWindow,
};
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

/// The field `builder` is rejected for, checking the error's other parts.
fn rejected_field(builder: ConfigBuilder) -> String {
    match builder.build() {
        Ok(c) => panic!("expected a ConfigError, got {c:?}"),
        Err(e) => {
            assert_eq!(e.component(), "circuit breaker");
            assert!(!e.problem().is_empty());
            let shown = e.to_string();
            assert!(
                shown.starts_with("invalid circuit breaker config: ") && shown.contains(e.field()),
                "{shown}"
            );
            e.field().to_owned()
        }
    }
}

fn b() -> ConfigBuilder {
    Config::builder()
}

#[test]
fn failure_rate_threshold_outside_0_to_100_is_rejected() {
    for bad in [0.0, -1.0, 100.1, 1e9, f64::NAN, f64::INFINITY] {
        assert_eq!(
            rejected_field(b().failure_rate_threshold(bad)),
            "failure_rate_threshold",
            "{bad}"
        );
    }
}

#[test]
fn slow_call_rate_threshold_outside_0_to_100_is_rejected() {
    for bad in [0.0, -5.0, 101.0, f64::NAN] {
        assert_eq!(
            rejected_field(b().slow_call_rate_threshold(bad)),
            "slow_call_rate_threshold",
            "{bad}"
        );
    }
}

#[test]
fn the_problem_says_what_was_wrong() {
    let e = b().failure_rate_threshold(120.0).build().unwrap_err();
    assert!(e.problem().contains("120"), "{}", e.problem());
}

#[test]
fn zero_slow_call_duration_is_rejected() {
    assert_eq!(
        rejected_field(b().slow_call_duration(Duration::ZERO)),
        "slow_call_duration"
    );
}

#[test]
fn zero_count_window_size_is_rejected() {
    assert_eq!(
        rejected_field(b().sliding_window(SlidingWindow::count(0)).minimum_calls(1)),
        "sliding_window"
    );
}

#[test]
fn count_window_larger_than_the_maximum_is_rejected() {
    assert_eq!(
        rejected_field(b().sliding_window(SlidingWindow::count(MAX_COUNT_WINDOW + 1))),
        "sliding_window"
    );
}

#[test]
fn zero_time_window_duration_is_rejected() {
    assert_eq!(
        rejected_field(b().sliding_window(SlidingWindow::time(Duration::ZERO))),
        "sliding_window"
    );
}

#[test]
fn zero_time_window_buckets_are_rejected() {
    assert_eq!(
        rejected_field(b().sliding_window(SlidingWindow::time_with_buckets(10 * SEC, 0))),
        "sliding_window"
    );
}

#[test]
fn too_many_time_window_buckets_are_rejected() {
    assert_eq!(
        rejected_field(b().sliding_window(SlidingWindow::time_with_buckets(
            Duration::from_secs(86_400),
            MAX_TIME_BUCKETS + 1
        ))),
        "sliding_window"
    );
}

#[test]
fn time_window_buckets_shorter_than_a_millisecond_are_rejected() {
    assert_eq!(
        rejected_field(b().sliding_window(SlidingWindow::time_with_buckets(
            Duration::from_millis(5),
            10
        ))),
        "sliding_window"
    );
}

#[test]
fn zero_minimum_calls_is_rejected() {
    assert_eq!(rejected_field(b().minimum_calls(0)), "minimum_calls");
    assert_eq!(
        rejected_field(
            b().sliding_window(SlidingWindow::time(10 * SEC))
                .minimum_calls(0)
        ),
        "minimum_calls"
    );
}

#[test]
fn minimum_calls_above_the_count_window_size_is_rejected() {
    assert_eq!(
        rejected_field(
            b().sliding_window(SlidingWindow::count(10))
                .minimum_calls(11)
        ),
        "minimum_calls"
    );
    // The default minimum (100) does not fit a smaller window either.
    assert_eq!(
        rejected_field(b().sliding_window(SlidingWindow::count(20))),
        "minimum_calls"
    );
}

#[test]
fn zero_wait_in_open_is_rejected() {
    assert_eq!(
        rejected_field(b().wait_in_open(Duration::ZERO)),
        "wait_in_open"
    );
}

#[test]
fn half_open_permits_of_zero_or_above_the_maximum_are_rejected() {
    for bad in [0, MAX_HALF_OPEN_PERMITS + 1, u32::MAX] {
        assert_eq!(
            rejected_field(b().half_open_permits(bad)),
            "half_open_permits",
            "{bad}"
        );
    }
}

#[test]
fn zero_max_wait_in_half_open_is_rejected() {
    assert_eq!(
        rejected_field(b().max_wait_in_half_open(Duration::ZERO)),
        "max_wait_in_half_open"
    );
}

#[test]
fn backoff_multiplier_below_one_or_not_finite_is_rejected() {
    for bad in [0.0, 0.5, -2.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            rejected_field(b().open_backoff(OpenBackoff::exponential(bad, 600 * SEC))),
            "open_backoff",
            "{bad}"
        );
    }
}

#[test]
fn backoff_max_below_wait_in_open_is_rejected() {
    assert_eq!(
        rejected_field(
            b().wait_in_open(60 * SEC)
                .open_backoff(OpenBackoff::exponential(2.0, 30 * SEC))
        ),
        "open_backoff"
    );
}

#[test]
fn backoff_jitter_outside_0_to_1_is_rejected() {
    for bad in [1.0, 1.5, -0.1, f64::NAN] {
        assert_eq!(
            rejected_field(b().open_backoff(OpenBackoff::constant().jitter(bad))),
            "open_backoff",
            "{bad}"
        );
    }
}

#[test]
fn zero_recovery_duration_is_rejected() {
    assert_eq!(
        rejected_field(b().gradual_recovery(GradualRecovery::over(Duration::ZERO))),
        "gradual_recovery"
    );
}

#[test]
fn recovery_start_outside_0_to_100_is_rejected() {
    for bad in [0.0, -10.0, 100.5, f64::NAN] {
        assert_eq!(
            rejected_field(b().gradual_recovery(GradualRecovery::over(60 * SEC).starting_at(bad))),
            "gradual_recovery",
            "{bad}"
        );
    }
}

#[test]
fn boundary_values_are_accepted() {
    let c = b()
        .failure_rate_threshold(100.0)
        .slow_call_rate_threshold(100.0)
        .slow_call_duration(Duration::from_nanos(1))
        .sliding_window(SlidingWindow::count(7))
        .minimum_calls(7)
        .wait_in_open(Duration::from_nanos(1))
        .open_backoff(OpenBackoff::exponential(1.0, Duration::from_nanos(1)).jitter(0.0))
        .half_open_permits(MAX_HALF_OPEN_PERMITS)
        .gradual_recovery(GradualRecovery::over(Duration::from_nanos(1)).starting_at(100.0))
        .build()
        .expect("every value is at its limit, inside");
    assert_eq!(c.half_open_permits(), MAX_HALF_OPEN_PERMITS);
    assert!(
        b().failure_rate_threshold(0.001)
            .sliding_window(SlidingWindow::count(1))
            .minimum_calls(1)
            .half_open_permits(1)
            .open_backoff(OpenBackoff::constant().jitter(0.999))
            .build()
            .is_ok()
    );
    assert!(
        b().sliding_window(SlidingWindow::count(MAX_COUNT_WINDOW))
            .build()
            .is_ok()
    );
    assert!(
        b().sliding_window(SlidingWindow::time_with_buckets(
            Duration::from_millis(u64::from(MAX_TIME_BUCKETS)),
            MAX_TIME_BUCKETS
        ))
        .minimum_calls(1_000_000)
        .build()
        .is_ok(),
        "a time window has no upper bound on minimum_calls"
    );
}

#[test]
fn the_default_config_is_valid_and_follows_resilience4j() {
    let c = Config::default();
    assert_eq!(c.failure_rate_threshold(), 50.0);
    assert_eq!(c.sliding_window(), SlidingWindow::count(100));
    assert_eq!(c.half_open_permits(), 10);
    assert_eq!(c.slow_call_duration(), None);
    assert!(Config::builder().build().is_ok());
    let _ = Breaker::default();
}

#[test]
fn the_first_invalid_setting_is_reported() {
    // Several are wrong; the error names one of them rather than panicking.
    let field = rejected_field(
        b().failure_rate_threshold(0.0)
            .wait_in_open(Duration::ZERO)
            .half_open_permits(0),
    );
    assert!(
        [
            "failure_rate_threshold",
            "wait_in_open",
            "half_open_permits"
        ]
        .contains(&field.as_str()),
        "{field}"
    );
}

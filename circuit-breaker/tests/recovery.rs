//! Gradual recovery: after the half-open probes succeed, the breaker ramps
//! traffic back up (state `Recovering`), admitting a share of calls that
//! grows from `starting_at` to all of them over the ramp's duration, and
//! reopens if the admitted calls fail.

mod common;

use ballast_circuit_breaker::{
    Breaker, Cause, Config, GradualRecovery, Reason, SlidingWindow, State,
};
use common::{WAIT, builder, record_events};
use std::time::Duration;
use tokio::time::advance;

const RAMP: Duration = Duration::from_secs(100);
const PERMITS: u32 = 2;

/// Trips at 50% after 4 calls; 2 probes; a 100 s ramp starting at 25%.
fn breaker() -> Breaker {
    Breaker::new(
        builder(PERMITS)
            .gradual_recovery(GradualRecovery::over(RAMP).starting_at(25.0))
            .build()
            .unwrap(),
    )
}

/// Trips the breaker, waits, and lets every probe succeed.
async fn to_recovering(b: &Breaker) {
    for _ in 0..4 {
        b.try_acquire().unwrap().failure();
    }
    advance(WAIT).await;
    for _ in 0..PERMITS {
        b.try_acquire().expect("a probe").success();
    }
    assert_eq!(b.state(), State::Recovering);
}

/// Offers `n` calls at the current instant; admitted ones succeed.
/// Returns how many were admitted.
fn offer(b: &Breaker, n: usize) -> usize {
    (0..n)
        .filter(|_| match b.try_acquire() {
            Ok(p) => {
                p.success();
                true
            }
            Err(r) => {
                assert_eq!(r.reason(), Reason::CircuitRecovering);
                false
            }
        })
        .count()
}

/// Steady traffic of 10 calls a second for `secs` seconds; admitted calls
/// succeed. Returns how many were admitted.
async fn steady_traffic(b: &Breaker, secs: u32) -> usize {
    let mut admitted = 0;
    for _ in 0..secs * 10 {
        admitted += offer(b, 1);
        advance(Duration::from_millis(100)).await;
    }
    admitted
}

#[tokio::test(start_paused = true)]
async fn succeeding_probes_start_the_ramp_instead_of_closing() {
    let b = breaker();
    let log = record_events(&b);
    to_recovering(&b).await;
    let e = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!((e.from, e.to), (State::HalfOpen, State::Recovering));
    assert_eq!(e.cause, Cause::ProbesSucceeded);
    assert_eq!(b.metrics().state, State::Recovering);
}

#[tokio::test(start_paused = true)]
async fn recovering_admits_about_the_starting_share_and_rejects_the_rest() {
    let b = breaker();
    to_recovering(&b).await;
    let before = b.metrics().rejected;
    let admitted = offer(&b, 100);
    assert!(
        (23..=27).contains(&admitted),
        "admitted {admitted} of 100 at 25%"
    );
    assert_eq!(b.metrics().rejected - before, 100 - admitted as u64);
}

#[tokio::test(start_paused = true)]
async fn a_call_outside_the_ramp_share_gets_circuit_recovering_with_a_retry_after_hint() {
    let b = breaker();
    to_recovering(&b).await;
    b.try_acquire()
        .expect("the first call is inside the share")
        .success();
    let r = b.try_acquire().expect_err("25%: the second call is not");
    assert_eq!(r.reason(), Reason::CircuitRecovering);
    let hint = r.retry_after_hint().expect("a hint");
    assert!(hint > Duration::ZERO && hint <= RAMP, "{hint:?}");
}

#[tokio::test(start_paused = true)]
async fn admitted_share_grows_as_the_ramp_goes_on() {
    let b = breaker();
    to_recovering(&b).await;
    let early = steady_traffic(&b, 10).await; // 0..10 s
    steady_traffic(&b, 30).await;
    let late = steady_traffic(&b, 10).await; // 40..50 s
    assert!(
        early < 60,
        "early in the ramp most calls wait: {early} of 100"
    );
    assert!(late > early, "the share grows: {early} then {late} of 100");
    assert_eq!(b.state(), State::Recovering);
}

/// Each stretch of steady traffic should be admitted at about the share
/// the ramp has reached then: `25% + 75% * elapsed / 100 s`.
#[tokio::test(start_paused = true)]
async fn each_stretch_of_the_ramp_admits_about_the_ramps_current_share() {
    let b = breaker();
    to_recovering(&b).await;
    let mut report = Vec::new();
    for stretch in 0..10u32 {
        let admitted = steady_traffic(&b, 10).await as f64;
        let mid = f64::from(stretch * 10 + 5);
        let expected = 25.0 + 75.0 * mid / 100.0;
        report.push((stretch * 10, admitted, expected));
    }
    let off: Vec<_> = report
        .iter()
        .filter(|(_, admitted, expected)| (admitted - expected).abs() > 10.0)
        .collect();
    assert!(
        off.is_empty(),
        "stretches (start s, admitted of 100, expected) far from the ramp: {off:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_ramp_ends_closed_after_its_duration() {
    let b = breaker();
    let log = record_events(&b);
    to_recovering(&b).await;
    advance(RAMP - Duration::from_millis(1)).await;
    assert_eq!(b.state(), State::Recovering);
    advance(Duration::from_millis(1)).await;
    assert_eq!(offer(&b, 50), 50, "after the ramp every call is admitted");
    assert_eq!(b.state(), State::Closed);
    let e = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!((e.from, e.to), (State::Recovering, State::Closed));
    assert_eq!(e.cause, Cause::RecoveryCompleted);
    assert_eq!(b.metrics().consecutive_trips, 0);
}

#[tokio::test(start_paused = true)]
async fn a_failure_rate_above_threshold_during_the_ramp_reopens() {
    let b = breaker();
    let log = record_events(&b);
    to_recovering(&b).await;
    let mut failed = 0;
    while b.state() == State::Recovering && failed < 10 {
        if let Ok(p) = b.try_acquire() {
            p.failure();
            failed += 1;
        }
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        failed, PERMITS,
        "decided once the ramp saw `half_open_permits` calls"
    );
    let e = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!((e.from, e.to), (State::Recovering, State::Open));
    assert_eq!(
        e.cause,
        Cause::RecoveryFailed {
            failure_rate: 100.0,
            slow_call_rate: 0.0
        }
    );
    let r = b.try_acquire().unwrap_err();
    assert_eq!(r.reason(), Reason::CircuitOpen);
    assert_eq!(r.retry_after_hint(), Some(WAIT));
    assert_eq!(b.metrics().consecutive_trips, 2, "the ramp never closed");
}

#[tokio::test(start_paused = true)]
async fn failures_below_threshold_during_the_ramp_do_not_reopen() {
    let b = breaker();
    to_recovering(&b).await;
    // Once the ramp has seen 2 calls, 1 failure in 4 or more is under 50%.
    let mut outcomes = [true, true, true, false, true, true].into_iter();
    let mut attempts = 0;
    let mut next = outcomes.next();
    while let Some(success) = next {
        attempts += 1;
        assert!(attempts < 1000, "the ramp stopped admitting calls");
        if let Ok(p) = b.try_acquire() {
            if success {
                p.success();
            } else {
                p.failure();
            }
            next = outcomes.next();
        }
    }
    assert_eq!(b.state(), State::Recovering);
    advance(RAMP).await;
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_ramp_starting_at_100_percent_admits_everything() {
    let b = Breaker::new(
        Config::builder()
            .sliding_window(SlidingWindow::count(4))
            .minimum_calls(4)
            .wait_in_open(WAIT)
            .half_open_permits(PERMITS)
            .gradual_recovery(GradualRecovery::over(RAMP).starting_at(100.0))
            .build()
            .unwrap(),
    );
    to_recovering(&b).await;
    assert_eq!(offer(&b, 40), 40);
}

/// With automatic transitions, the ramp closes the circuit when its
/// duration ends even if no call arrives then.
#[tokio::test(start_paused = true)]
async fn automatic_mode_closes_at_the_end_of_the_ramp_without_a_call() {
    let b = Breaker::new(
        builder(PERMITS)
            .automatic_half_open(true)
            .gradual_recovery(GradualRecovery::over(RAMP).starting_at(25.0))
            .build()
            .unwrap(),
    );
    let log = record_events(&b);
    to_recovering(&b).await;
    advance(RAMP - Duration::from_millis(1)).await;
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
    assert_eq!(b.state(), State::Recovering);
    advance(Duration::from_millis(1)).await;
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
    assert_eq!(b.state(), State::Closed);
    let last = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.cause, Cause::RecoveryCompleted);
}

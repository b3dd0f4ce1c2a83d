//! Every transition of the breaker's state machine, driven through the
//! public API on tokio's paused clock: closed -> open on the failure rate,
//! open -> half-open after the wait, half-open -> closed or open on the
//! probes, the half-open time limit, automatic half-open, the open backoff,
//! and the order of `StateChange` events.

mod common;

use ballast_circuit_breaker::{
    Breaker, CallError, Cause, Config, ConfigBuilder, OpenBackoff, Reason, Rejected, RetryAfter,
    SlidingWindow, State, StateChange,
};
use common::{Log, WAIT, fail, record_events, succeed};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;
use tokio::time::advance;

/// The config of `common::builder`, named "transitions".
fn builder(permits: u32) -> ConfigBuilder {
    common::builder(permits).name("transitions")
}

fn breaker(permits: u32) -> Breaker {
    Breaker::new(builder(permits).build().expect("valid config"))
}

/// The rejection inside `r`, which must be one.
fn rejection<T: std::fmt::Debug>(r: Result<T, CallError<io::Error>>) -> Rejected {
    match r {
        Err(CallError::Rejected(rejected)) => rejected,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Four failures: 100% of the minimum calls.
async fn trip(b: &Breaker) {
    for _ in 0..4 {
        assert!(matches!(fail(b).await, Err(CallError::Inner(_))));
    }
    assert_eq!(b.state(), State::Open);
}

fn transitions(log: &Log) -> Vec<(State, State)> {
    log.lock().unwrap().iter().map(|e| (e.from, e.to)).collect()
}

fn last_event(log: &Log) -> StateChange {
    log.lock().unwrap().last().cloned().expect("an event")
}

/// Lets spawned tasks (the automatic half-open timer) run.
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn stays_closed_below_minimum_calls_even_when_every_call_fails() {
    let b = breaker(1);
    for _ in 0..3 {
        assert!(matches!(fail(&b).await, Err(CallError::Inner(_))));
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().failure_rate, 100.0);
}

#[tokio::test(start_paused = true)]
async fn opens_when_failure_rate_reaches_threshold_after_minimum_calls() {
    let b = breaker(1);
    let log = record_events(&b);
    succeed(&b).await.unwrap();
    fail(&b).await.unwrap_err();
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed, "3 calls are under the minimum");
    // 2 failures of 4 calls: exactly the 50% threshold.
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
    let e = last_event(&log);
    assert_eq!((e.from, e.to), (State::Closed, State::Open));
    assert_eq!(e.cause, Cause::FailureRate(50.0));
    assert_eq!(e.open_for, Some(WAIT));
    assert_eq!(&*e.name, "transitions");
}

#[tokio::test(start_paused = true)]
async fn opens_on_the_call_that_reaches_minimum_calls_when_it_is_a_success() {
    let b = breaker(1);
    for _ in 0..3 {
        fail(&b).await.unwrap_err();
    }
    // The fourth call succeeds, but 3 of 4 failed: 75% >= 50%.
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn stays_closed_when_failure_rate_is_below_threshold() {
    let b = breaker(1);
    fail(&b).await.unwrap_err();
    for _ in 0..9 {
        succeed(&b).await.unwrap();
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().failure_rate, 10.0);
}

#[tokio::test(start_paused = true)]
async fn open_rejects_with_circuit_open_and_the_remaining_wait_as_hint() {
    let b = breaker(1);
    trip(&b).await;
    let ran = AtomicUsize::new(0);
    let call = || {
        b.call(|| {
            ran.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, io::Error>(()) }
        })
    };
    let r = rejection(call().await);
    assert_eq!(r.reason(), Reason::CircuitOpen);
    assert_eq!(r.retry_after_hint(), Some(WAIT));

    advance(Duration::from_secs(12)).await;
    let r = rejection(call().await);
    assert_eq!(r.reason(), Reason::CircuitOpen);
    assert_eq!(r.retry_after_hint(), Some(Duration::from_secs(18)));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a rejected call is not made");
    assert_eq!(b.metrics().rejected, 2);
}

#[tokio::test(start_paused = true)]
async fn open_moves_to_half_open_on_the_first_call_after_the_wait() {
    let b = breaker(1);
    let log = record_events(&b);
    trip(&b).await;

    advance(WAIT - Duration::from_millis(1)).await;
    let r = rejection(succeed(&b).await);
    assert_eq!(r.retry_after_hint(), Some(Duration::from_millis(1)));

    advance(Duration::from_millis(1)).await;
    assert_eq!(b.state(), State::Open, "no call, no move");
    let permit = b
        .try_acquire()
        .expect("the first call after the wait is a probe");
    assert_eq!(b.state(), State::HalfOpen);
    let e = last_event(&log);
    assert_eq!((e.from, e.to), (State::Open, State::HalfOpen));
    assert_eq!(e.cause, Cause::WaitElapsed);
    assert_eq!(e.open_for, None);
    permit.success();
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_the_configured_probes_concurrently() {
    let b = breaker(3);
    trip(&b).await;
    advance(WAIT).await;
    let probes: Vec<_> = (0..3)
        .map(|_| b.try_acquire().expect("a probe slot"))
        .collect();
    assert_eq!(b.metrics().half_open_probes, 3);
    let busy = b.try_acquire().expect_err("every probe slot is taken");
    assert_eq!(busy.reason(), Reason::CircuitHalfOpenBusy);
    assert_eq!(busy.retry_after_value(), RetryAfter::Unknown);
    let busy = rejection(succeed(&b).await);
    assert_eq!(busy.reason(), Reason::CircuitHalfOpenBusy);
    assert_eq!(b.state(), State::HalfOpen);
    drop(probes);
}

#[tokio::test(start_paused = true)]
async fn half_open_closes_when_every_probe_succeeds() {
    let b = breaker(3);
    let log = record_events(&b);
    trip(&b).await;
    advance(WAIT).await;
    succeed(&b).await.unwrap();
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::HalfOpen, "one probe still to report");
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    let e = last_event(&log);
    assert_eq!((e.from, e.to), (State::HalfOpen, State::Closed));
    assert_eq!(e.cause, Cause::ProbesSucceeded);
    let m = b.metrics();
    assert_eq!((m.calls, m.failures, m.consecutive_trips), (0, 0, 0));
    // Closed again: calls flow.
    for _ in 0..10 {
        succeed(&b).await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn half_open_closes_when_probe_failures_stay_below_threshold() {
    let b = breaker(4);
    trip(&b).await;
    advance(WAIT).await;
    fail(&b).await.unwrap_err();
    for _ in 0..3 {
        succeed(&b).await.unwrap();
    }
    // 1 of 4 probes failed: 25% < 50%.
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_reopens_when_probes_fail() {
    let b = breaker(2);
    let log = record_events(&b);
    trip(&b).await;
    advance(WAIT).await;
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    p1.failure();
    // 1 failure of 2 permits is already 50%: no need to wait for p2.
    assert_eq!(b.state(), State::Open);
    let e = last_event(&log);
    assert_eq!((e.from, e.to), (State::HalfOpen, State::Open));
    assert_eq!(
        e.cause,
        Cause::ProbesFailed {
            failure_rate: 100.0,
            slow_call_rate: 0.0
        }
    );
    assert_eq!(e.open_for, Some(WAIT));
    let r = rejection(succeed(&b).await);
    assert_eq!(r.reason(), Reason::CircuitOpen);
    assert_eq!(r.retry_after_hint(), Some(WAIT));
    // The late probe reports into a stay that is over: nothing changes.
    p2.success();
    assert_eq!(b.state(), State::Open);
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn half_open_reopens_early_once_failures_make_the_threshold_certain() {
    let b = breaker(4);
    let log = record_events(&b);
    trip(&b).await;
    advance(WAIT).await;
    let probes: Vec<_> = (0..4).map(|_| b.try_acquire().unwrap()).collect();
    let mut probes = probes.into_iter();
    probes.next().unwrap().success();
    probes.next().unwrap().failure();
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "1 failure of 4 could still close"
    );
    probes.next().unwrap().failure();
    // 2 failures of 4 permits is 50% whatever the last probe does.
    assert_eq!(b.state(), State::Open);
    match last_event(&log).cause {
        Cause::ProbesFailed {
            failure_rate,
            slow_call_rate,
        } => {
            assert!((failure_rate - 200.0 / 3.0).abs() < 1e-9, "{failure_rate}");
            assert_eq!(slow_call_rate, 0.0);
        }
        other => panic!("unexpected cause {other:?}"),
    }
    probes.next().unwrap().success();
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        transitions(&log),
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Open),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn max_wait_in_half_open_reopens_when_probes_hang() {
    let b = Breaker::new(
        builder(1)
            .max_wait_in_half_open(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let log = record_events(&b);
    trip(&b).await;
    advance(WAIT).await;
    let hung = b.try_acquire().expect("the probe");

    advance(Duration::from_millis(4999)).await;
    let busy = b.try_acquire().expect_err("still waiting for the probe");
    assert_eq!(busy.reason(), Reason::CircuitHalfOpenBusy);
    assert_eq!(b.state(), State::HalfOpen);

    advance(Duration::from_millis(1)).await;
    let r = b.try_acquire().expect_err("half-open timed out");
    assert_eq!(r.reason(), Reason::CircuitOpen);
    assert_eq!(r.retry_after_hint(), Some(WAIT));
    assert_eq!(b.state(), State::Open);
    let e = last_event(&log);
    assert_eq!((e.from, e.to), (State::HalfOpen, State::Open));
    assert_eq!(e.cause, Cause::HalfOpenTimedOut);
    assert_eq!(b.metrics().consecutive_trips, 2);

    // The hung probe finally succeeds: it belongs to the old stay.
    hung.success();
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn automatic_half_open_moves_to_half_open_when_the_wait_ends_without_a_call() {
    let b = Breaker::new(builder(1).automatic_half_open(true).build().unwrap());
    let log = record_events(&b);
    trip(&b).await;
    settle().await; // the timer task starts

    advance(WAIT - Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(b.state(), State::Open);

    advance(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(b.state(), State::HalfOpen);
    let e = last_event(&log);
    assert_eq!(
        (e.from, e.to, e.cause),
        (State::Open, State::HalfOpen, Cause::WaitElapsed)
    );
    assert_eq!(b.metrics().rejected, 0, "no call was needed");

    // The probe closes it as usual.
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

/// The wait runs from the trip, not from whenever the runtime first gets
/// round to the timer task: here the tripping task does not yield before
/// time moves on.
#[tokio::test(start_paused = true)]
async fn automatic_half_open_wait_counts_from_the_trip_not_from_when_the_timer_task_first_runs() {
    let b = Breaker::new(builder(1).automatic_half_open(true).build().unwrap());
    trip(&b).await;
    advance(WAIT).await;
    settle().await;
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "wait_in_open has passed since the trip"
    );
}

#[tokio::test(start_paused = true)]
async fn automatic_half_open_timer_of_an_earlier_trip_does_nothing() {
    let b = Breaker::new(builder(1).automatic_half_open(true).build().unwrap());
    trip(&b).await; // timer for t = 30 s
    settle().await;
    advance(Duration::from_secs(10)).await;
    b.force_closed();
    advance(Duration::from_secs(10)).await;
    trip(&b).await; // t = 20 s: open until 50 s
    settle().await;
    advance(Duration::from_secs(10)).await; // t = 30 s: the first timer fires
    settle().await;
    assert_eq!(
        b.state(),
        State::Open,
        "the stale timer must not end this stay"
    );
    let r = b.try_acquire().expect_err("still open");
    assert_eq!(r.retry_after_hint(), Some(Duration::from_secs(20)));
    advance(Duration::from_secs(20)).await;
    settle().await;
    assert_eq!(b.state(), State::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn open_wait_grows_with_consecutive_trips_up_to_the_cap_and_resets_after_closing() {
    let b = Breaker::new(
        builder(1)
            .wait_in_open(Duration::from_secs(10))
            .open_backoff(OpenBackoff::exponential(2.0, Duration::from_secs(35)))
            .build()
            .unwrap(),
    );
    let log = record_events(&b);
    let hint = |b: &Breaker| b.try_acquire().unwrap_err().retry_after_hint();

    trip(&b).await;
    assert_eq!(hint(&b), Some(Duration::from_secs(10)));
    assert_eq!(b.metrics().consecutive_trips, 1);
    let mut waits = vec![10];
    for expected in [20, 35, 35] {
        advance(Duration::from_secs(waits[waits.len() - 1])).await;
        fail(&b).await.unwrap_err(); // the probe fails
        assert_eq!(b.state(), State::Open);
        assert_eq!(hint(&b), Some(Duration::from_secs(expected)));
        waits.push(expected);
    }
    assert_eq!(b.metrics().consecutive_trips, 4);

    advance(Duration::from_secs(35)).await;
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().consecutive_trips, 0);

    trip(&b).await;
    assert_eq!(
        hint(&b),
        Some(Duration::from_secs(10)),
        "backoff starts over"
    );
    let open_for: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| e.open_for)
        .map(|d| d.as_secs())
        .collect();
    assert_eq!(open_for, [10, 20, 35, 35, 10]);
}

#[tokio::test(start_paused = true)]
async fn state_change_events_arrive_in_order_once_per_transition() {
    let b = breaker(1);
    let log = record_events(&b);
    trip(&b).await;
    for _ in 0..3 {
        rejection(succeed(&b).await);
    }
    advance(WAIT).await;
    fail(&b).await.unwrap_err(); // probe fails
    advance(WAIT).await;
    succeed(&b).await.unwrap(); // probe succeeds
    succeed(&b).await.unwrap();

    let got: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|e| (e.from, e.to, e.cause))
        .collect();
    assert_eq!(
        got,
        [
            (State::Closed, State::Open, Cause::FailureRate(100.0)),
            (State::Open, State::HalfOpen, Cause::WaitElapsed),
            (
                State::HalfOpen,
                State::Open,
                Cause::ProbesFailed {
                    failure_rate: 100.0,
                    slow_call_rate: 0.0
                }
            ),
            (State::Open, State::HalfOpen, Cause::WaitElapsed),
            (State::HalfOpen, State::Closed, Cause::ProbesSucceeded),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn every_listener_sees_every_event() {
    let b = breaker(1);
    let first = record_events(&b);
    let second = record_events(&b);
    trip(&b).await;
    assert_eq!(transitions(&first), [(State::Closed, State::Open)]);
    assert_eq!(transitions(&first), transitions(&second));
}

#[tokio::test(start_paused = true)]
async fn a_listener_may_call_back_into_the_breaker() {
    let b = breaker(1);
    let log = record_events(&b);
    let handle = b.clone();
    b.on_state_change(move |e| {
        if e.to == State::Open {
            // An operator policy: never probe this dependency automatically.
            handle.force_open();
        }
    });
    for _ in 0..4 {
        fail(&b).await.unwrap_err();
    }
    assert_eq!(b.state(), State::ForcedOpen);
    assert_eq!(
        transitions(&log),
        [
            (State::Closed, State::Open),
            (State::Open, State::ForcedOpen)
        ]
    );
    assert_eq!(last_event(&log).cause, Cause::Manual);
}

/// Threads race to record the failures that trip the breaker: it opens once.
#[test]
fn each_transition_happens_once_when_many_threads_race_to_make_it() {
    let b = Breaker::new(
        Config::builder()
            .sliding_window(SlidingWindow::count(64))
            .minimum_calls(8)
            .failure_rate_threshold(50.0)
            .wait_in_open(Duration::from_secs(3600))
            .build()
            .unwrap(),
    );
    let log = record_events(&b);
    let threads = 8;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (b, start) = (b.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for _ in 0..50 {
                    match b.try_acquire() {
                        Ok(p) => p.failure(),
                        Err(r) => assert_eq!(r.reason(), Reason::CircuitOpen),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(transitions(&log), [(State::Closed, State::Open)]);
}

/// Threads race for half-open probe slots (and to make the open ->
/// half-open move): exactly `half_open_permits` get one.
#[test]
fn half_open_never_admits_more_probes_than_permits_under_a_thread_race() {
    let b = Breaker::new(
        Config::builder()
            .sliding_window(SlidingWindow::count(4))
            .minimum_calls(2)
            .failure_rate_threshold(50.0)
            .wait_in_open(Duration::from_nanos(1))
            .half_open_permits(3)
            .build()
            .unwrap(),
    );
    let log = record_events(&b);
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure();
    assert_eq!(transitions(&log), [(State::Closed, State::Open)]);
    // No call can arrive within the 1 ns wait: spawning the threads takes longer.

    let threads = 8;
    let (start, tried) = (
        Arc::new(Barrier::new(threads)),
        Arc::new(Barrier::new(threads)),
    );
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (b, start, tried) = (b.clone(), start.clone(), tried.clone());
            std::thread::spawn(move || {
                start.wait();
                let got = b.try_acquire();
                // Hold the slot until every thread has tried.
                tried.wait();
                match got {
                    Ok(p) => {
                        p.ignore();
                        true
                    }
                    Err(r) => {
                        assert_eq!(r.reason(), Reason::CircuitHalfOpenBusy);
                        false
                    }
                }
            })
        })
        .collect();
    let granted = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|&g| g)
        .count();
    assert_eq!(granted, 3);
    assert_eq!(
        transitions(&log),
        [(State::Closed, State::Open), (State::Open, State::HalfOpen)]
    );
}

#[tokio::test(start_paused = true)]
async fn jittered_open_waits_stay_within_bounds_and_repeat_with_the_same_seed() {
    let waits = |seed| async move {
        let b = Breaker::new(
            builder(1)
                .wait_in_open(Duration::from_secs(10))
                .open_backoff(OpenBackoff::exponential(2.0, Duration::from_secs(40)).jitter(0.25))
                .seed(seed)
                .build()
                .unwrap(),
        );
        let log = record_events(&b);
        trip(&b).await;
        for _ in 0..5 {
            advance(Duration::from_secs(60)).await;
            fail(&b).await.unwrap_err();
        }
        let waits: Vec<Duration> = log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| e.open_for)
            .collect();
        waits
    };
    let first = waits(7).await;
    assert_eq!(first.len(), 6);
    for (trip, wait) in first.iter().enumerate() {
        let base = (10.0 * 2f64.powi(trip as i32)).min(40.0);
        let secs = wait.as_secs_f64();
        assert!(
            (base * 0.75..=base * 1.25).contains(&secs),
            "trip {trip}: {secs}s for a base of {base}s"
        );
    }
    assert_eq!(first, waits(7).await, "same seed, same waits");
    assert_ne!(first, waits(8).await, "another seed spreads differently");
}

#[tokio::test(start_paused = true)]
async fn extreme_but_valid_open_waits_do_not_panic() {
    let b = Breaker::new(
        builder(1)
            .wait_in_open(Duration::from_secs(1))
            .open_backoff(OpenBackoff::exponential(1e300, Duration::MAX).jitter(0.5))
            .automatic_half_open(true)
            .build()
            .unwrap(),
    );
    trip(&b).await;
    settle().await;
    advance(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(b.state(), State::HalfOpen);
    fail(&b).await.unwrap_err(); // the second trip waits "forever"
    settle().await;
    let r = rejection(succeed(&b).await);
    assert!(r.retry_after_hint().unwrap() > Duration::from_secs(1 << 30));
    assert!(r.to_string().starts_with("circuit open; retry after "));
    advance(Duration::from_secs(1 << 30)).await;
    settle().await;
    assert_eq!(b.state(), State::Open);

    let forever = Breaker::new(builder(1).wait_in_open(Duration::MAX).build().unwrap());
    trip(&forever).await;
    advance(Duration::from_secs(1 << 30)).await;
    let r = rejection(succeed(&forever).await);
    assert_eq!(r.reason(), Reason::CircuitOpen);
}

/// A listener is user code; one that panics must not stop the breaker
/// from telling the others (or its own automatic half-open timer) about
/// later transitions.
#[tokio::test(start_paused = true)]
async fn a_panicking_listener_does_not_silence_later_events() {
    let b = breaker(1);
    let log = record_events(&b);
    let panicked = Arc::new(AtomicUsize::new(0));
    let count = panicked.clone();
    b.on_state_change(move |_| {
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("a listener bug");
        }
    });
    // The listener's panic is caught and logged: it reaches neither the
    // caller that made the transition nor later events.
    for _ in 0..4 {
        b.try_acquire().unwrap().failure();
    }
    assert_eq!(panicked.load(Ordering::SeqCst), 1);
    assert_eq!(b.state(), State::Open, "the transition itself was made");
    b.force_closed();
    assert_eq!(
        transitions(&log),
        [(State::Closed, State::Open), (State::Open, State::Closed)],
        "later transitions must still be delivered"
    );
}

/// With automatic transitions, a half-open stay whose probes hang reopens
/// at its maximum time even if no call arrives to notice.
#[tokio::test(start_paused = true)]
async fn automatic_mode_reopens_a_hung_half_open_at_its_maximum_time_without_a_call() {
    let max = Duration::from_secs(5);
    let b = Breaker::new(
        builder(1)
            .automatic_half_open(true)
            .max_wait_in_half_open(max)
            .build()
            .unwrap(),
    );
    let log = record_events(&b);
    trip(&b).await;
    settle().await;
    advance(WAIT).await;
    settle().await;
    assert_eq!(b.state(), State::HalfOpen);
    let hung = b.try_acquire().expect("the one probe");

    advance(max - Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(b.state(), State::HalfOpen);
    advance(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(b.state(), State::Open);
    let e = last_event(&log);
    assert_eq!(
        (e.from, e.to, e.cause),
        (State::HalfOpen, State::Open, Cause::HalfOpenTimedOut)
    );
    hung.success(); // too late: it belongs to the stay that timed out
    assert_eq!(b.state(), State::Open);
}

//! ballast layers stacked in the orders users write, over an in-memory
//! dependency on tokio's paused clock, so every timing is exact.
//!
//! The order the README recommends, outermost first: overall deadline
//! (`Timeout`), retry, circuit breaker, rate limiter, bulkhead, per-attempt
//! timeout, the client. The issue's order (deadline, retry, breaker,
//! bulkhead, rate limiter) is tested too, and so are the two orders the
//! README warns about, to show what they do.

mod common;

use ballast_bulkhead::Bulkhead;
use ballast_circuit_breaker::{Breaker, SlidingWindow, State};
use ballast_core::Reason;
use ballast_deadline::TimeoutLayer;
use ballast_ratelimit::RateLimiter;
use ballast_retry::{Policy, RetryErrors};
use common::*;
use futures::poll;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};

type Stack = BoxCloneSyncService<u32, usize, BoxError>;

fn timeout(d: Duration) -> TimeoutLayer {
    TimeoutLayer::new(
        ballast_deadline::Config::builder()
            .timeout(d)
            .build()
            .unwrap(),
    )
}

/// Retry with [`retry_config`], every error retried.
fn retry(attempts: u32) -> Policy<RetryErrors> {
    Policy::new(retry_config(attempts), RetryErrors)
}

/// Opens after `min_calls` calls all failed; stays open 10 s.
fn breaker(min_calls: u32) -> Breaker {
    Breaker::new(
        ballast_circuit_breaker::Config::builder()
            .sliding_window(SlidingWindow::count(min_calls))
            .minimum_calls(min_calls)
            .failure_rate_threshold(100.0)
            .wait_in_open(Duration::from_secs(10))
            .half_open_permits(1)
            .build()
            .unwrap(),
    )
}

fn bulkhead(limit: u32) -> Bulkhead {
    Bulkhead::new(
        ballast_bulkhead::Config::builder()
            .max_concurrent_calls(limit)
            .build()
            .unwrap(),
    )
}

fn queueing_bulkhead(limit: u32, max_wait: Duration) -> Bulkhead {
    Bulkhead::new(
        ballast_bulkhead::Config::builder()
            .max_concurrent_calls(limit)
            .max_wait(max_wait)
            .max_queue_len(8)
            .build()
            .unwrap(),
    )
}

/// `per_sec` a second, burst 1; waits up to `max_wait` when given.
fn limiter(per_sec: u32, max_wait: Option<Duration>) -> RateLimiter {
    let b = ballast_ratelimit::Config::builder()
        .rate(per_sec, Duration::from_secs(1))
        .burst(1);
    let b = match max_wait {
        Some(w) => b.max_wait(w),
        None => b,
    };
    RateLimiter::new(b.build().unwrap())
}

async fn call(svc: &Stack, req: u32) -> Result<usize, BoxError> {
    svc.clone().oneshot(req).await
}

// ---- The deadline reaches the layers below ----

#[tokio::test(start_paused = true)]
async fn deadline_over_retry_stops_when_no_attempt_fits_and_returns_the_last_real_error() {
    // Attempts fail after 40 ms; the deadline is 100 ms. After the second
    // attempt (at 85 ms) another 40 ms cannot fit: retry stops and hands
    // back the second attempt's own error, not "deadline exceeded".
    let (dep, seen) = dep(|_| Step::Fail(40 * MS));
    let svc: Stack = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(timeout(100 * MS))
            .layer(retry(5).layer())
            .service(dep),
    );
    let start = Instant::now();
    let err = call(&svc, 1).await.unwrap_err();
    assert_eq!(seen.calls(), 2, "no third attempt that cannot finish");
    assert!(
        err.downcast_ref::<DepError>().is_some_and(|e| e.0 == 1),
        "the last real outcome, got {err}"
    );
    assert_eq!(
        ms_since(start),
        85,
        "stopped right after the second attempt"
    );
}

#[tokio::test(start_paused = true)]
async fn deadline_firing_during_an_attempt_returns_the_deadline_refusal_and_cancels_it() {
    let (dep, seen) = dep(|_| Step::Ok(150 * MS));
    let svc: Stack = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(timeout(100 * MS))
            .layer(retry(5).layer())
            .service(dep),
    );
    let start = Instant::now();
    let err = call(&svc, 1).await.unwrap_err();
    assert_eq!(reason(&err), Reason::DeadlineExceeded);
    assert_eq!(ms_since(start), 100);
    assert_eq!((seen.calls(), seen.cancelled()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_waiting_rate_limiter_under_a_timeout_refuses_at_once_with_its_retry_after() {
    // One call per 200 ms, willing to wait a second; the caller has 50 ms.
    // The limiter sees the deadline and says at once when to come back,
    // instead of sleeping until the timeout cuts it off.
    let (dep, seen) = dep(|_| Step::Ok(Duration::ZERO));
    let limiter = limiter(5, Some(Duration::from_secs(1)));
    let svc: Stack = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(timeout(50 * MS))
            .layer(limiter.layer())
            .service(dep),
    );
    call(&svc, 1).await.unwrap();
    let start = Instant::now();
    let err = call(&svc, 2).await.unwrap_err();
    assert_eq!(ms_since(start), 0, "refused at once");
    let refusal = rejected(&err).expect("the limiter's refusal, typed");
    assert_eq!(refusal.reason(), Reason::RateLimited);
    assert_eq!(refusal.retry_after_hint(), Some(200 * MS));
    assert_eq!(seen.calls(), 1);
    // Within the deadline, the same limiter waits instead.
    tokio::time::advance(170 * MS).await;
    let start = Instant::now();
    call(&svc, 3).await.unwrap();
    assert_eq!(
        ms_since(start),
        30,
        "waited for its cell inside the deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_queue_under_a_timeout_gives_up_at_the_deadline_and_keeps_no_slot() {
    let (dep, seen) = dep(|_| Step::Ok(500 * MS));
    let bulkhead = queueing_bulkhead(1, Duration::from_secs(5));
    let inner: Stack =
        BoxCloneSyncService::new(ServiceBuilder::new().layer(bulkhead.layer()).service(dep));
    let holder = tokio::spawn(inner.clone().oneshot(0));
    tokio::task::yield_now().await;
    let svc: Stack =
        BoxCloneSyncService::new(ServiceBuilder::new().layer(timeout(50 * MS)).service(inner));
    let start = Instant::now();
    let err = call(&svc, 1).await.unwrap_err();
    assert_eq!(reason(&err), Reason::DeadlineExceeded);
    assert_eq!(ms_since(start), 50, "the deadline, not the 5 s max_wait");
    let s = bulkhead.snapshot();
    assert_eq!((s.in_flight, s.queued), (1, 0), "the waiter left the queue");
    holder.await.unwrap().unwrap();
    assert_eq!((bulkhead.snapshot().in_flight, seen.calls()), (0, 1));
}

// ---- The whole stack, in the issue's order ----

/// deadline → retry → breaker → bulkhead → rate limiter → dependency.
struct Full {
    svc: Stack,
    breaker: Breaker,
    bulkhead: Bulkhead,
}

fn full(dep: Dep, deadline: Duration, min_calls: u32, limiter: RateLimiter) -> Full {
    let breaker = breaker(min_calls);
    let bulkhead = bulkhead(2);
    let svc = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(timeout(deadline))
            .layer(retry(3).layer())
            .layer(breaker.layer())
            .layer(bulkhead.layer())
            .layer(limiter.layer())
            .service(dep),
    );
    Full {
        svc,
        breaker,
        bulkhead,
    }
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_is_not_retried_before_its_retry_after_and_reaches_the_caller_typed() {
    let (dep, seen) = dep(|_| Step::Fail(10 * MS));
    let f = full(dep, Duration::from_secs(1), 3, limiter(1_000, None));
    // The first call's three attempts fail and trip the breaker.
    let err = call(&f.svc, 1).await.unwrap_err();
    assert!(err.downcast_ref::<DepError>().is_some(), "{err}");
    assert_eq!(f.breaker.state(), State::Open);
    assert_eq!(seen.calls(), 3);

    // Open for 10 s, past the 1 s deadline: refused once, not retried.
    let start = Instant::now();
    let err = call(&f.svc, 2).await.unwrap_err();
    let refusal = rejected(&err).expect("the breaker's refusal, typed");
    assert_eq!(refusal.reason(), Reason::CircuitOpen);
    assert!(refusal.retry_after_hint().is_some());
    assert_eq!(ms_since(start), 0, "no backoff spent on a refusal");
    assert_eq!(f.breaker.metrics().rejected, 1, "retry did not hammer it");
    assert_eq!(seen.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_circuit_opening_mid_retry_hands_back_the_real_failure_not_the_refusal() {
    // Two failures trip the breaker; the call's third attempt is refused.
    let (dep, seen) = dep(|_| Step::Fail(10 * MS));
    let f = full(dep, Duration::from_secs(1), 2, limiter(1_000, None));
    let err = call(&f.svc, 1).await.unwrap_err();
    assert_eq!(seen.calls(), 2);
    assert!(
        err.downcast_ref::<DepError>().is_some_and(|e| e.0 == 1),
        "the second attempt's own error, got {err}"
    );
    assert_eq!(f.breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_refusal_past_the_deadline_reaches_the_caller_typed() {
    // One call per 10 s: the second is refused with a retry-after past
    // the 1 s deadline, so retry gives it back at once.
    let (dep, seen) = dep(|_| Step::Ok(MS));
    let f = full(dep, Duration::from_secs(1), 4, limiter(1, None));
    call(&f.svc, 1).await.unwrap();
    let start = Instant::now();
    let err = call(&f.svc, 2).await.unwrap_err();
    assert_eq!(reason(&err), Reason::RateLimited);
    assert_eq!(ms_since(start), 0);
    assert_eq!(seen.calls(), 1);
    // A refusal is not the dependency failing: the breaker stays closed.
    assert_eq!(f.breaker.state(), State::Closed);
    assert_eq!(f.breaker.metrics().failures, 0);
}

#[tokio::test(start_paused = true)]
async fn a_short_rate_limit_wait_is_retried_after_its_retry_after_within_the_deadline() {
    // Five a second: the second call is refused for 200 ms, which fits in
    // the 1 s deadline, so retry comes back after it and succeeds.
    let (dep, seen) = dep(|_| Step::Ok(MS));
    let f = full(dep, Duration::from_secs(1), 4, limiter(5, None));
    call(&f.svc, 1).await.unwrap();
    let start = Instant::now();
    call(&f.svc, 2).await.unwrap();
    let waited = ms_since(start);
    assert!((199..=215).contains(&waited), "waited {waited} ms");
    assert_eq!(seen.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_holds_nothing_anywhere_in_the_stack() {
    let (dep, seen) = dep(|n| {
        if n == 0 {
            Step::Ok(500 * MS)
        } else {
            Step::Ok(MS)
        }
    });
    let f = full(dep, Duration::from_secs(1), 4, limiter(1_000, None));
    let mut pending = Box::pin(call(&f.svc, 1));
    assert!(poll!(pending.as_mut()).is_pending());
    tokio::time::advance(20 * MS).await;
    assert!(poll!(pending.as_mut()).is_pending());
    assert_eq!(f.bulkhead.snapshot().in_flight, 1);
    drop(pending);
    assert_eq!(seen.cancelled(), 1, "the dependency's work was dropped");
    assert_eq!(f.bulkhead.snapshot().in_flight, 0, "the permit came back");
    assert_eq!(seen.in_flight(), 0);
    // Both permits are free: two calls run at once.
    let (a, b) = tokio::join!(call(&f.svc, 2), call(&f.svc, 3));
    a.unwrap();
    b.unwrap();
    assert_eq!(f.breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_half_open_probe_frees_the_probe_slot() {
    let (dep, _seen) = dep(|n| match n {
        0 | 1 => Step::Fail(MS),
        2 => Step::Ok(Duration::from_secs(5)),
        _ => Step::Ok(MS),
    });
    let f = full(dep, Duration::from_secs(1), 2, limiter(1_000, None));
    call(&f.svc, 1).await.unwrap_err();
    assert_eq!(f.breaker.state(), State::Open);
    tokio::time::advance(Duration::from_secs(11)).await;
    // The one probe is slow and the caller gives up on it.
    let mut probe = Box::pin(call(&f.svc, 2));
    assert!(poll!(probe.as_mut()).is_pending());
    assert_eq!(f.breaker.state(), State::HalfOpen);
    drop(probe);
    // The slot is free again: the next call probes and closes the circuit.
    call(&f.svc, 3).await.unwrap();
    assert_eq!(f.breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_clone_per_request_shares_one_breaker_bulkhead_and_limiter() {
    // As axum and tonic call a stack: `svc.clone().oneshot(req)`, all at
    // once. Two permits: the other three are refused, typed.
    let (dep, seen) = dep(|_| Step::Ok(100 * MS));
    let bulkhead = bulkhead(2);
    let breaker = breaker(10);
    let svc: Stack = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(timeout(Duration::from_secs(1)))
            .layer(breaker.layer())
            .layer(bulkhead.layer())
            .service(dep),
    );
    let calls: Vec<_> = (0..5)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    let mut refused = 0;
    for c in calls {
        match c.await.unwrap() {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(reason(&e), Reason::BulkheadFull);
                refused += 1;
            }
        }
    }
    assert_eq!((refused, seen.calls()), (3, 2));
    assert_eq!(bulkhead.snapshot().rejected, 3);
    // The bulkhead's refusals are not the dependency failing.
    let m = breaker.metrics();
    assert_eq!((m.calls, m.failures), (2, 0), "{m:?}");
    assert_eq!(bulkhead.snapshot().in_flight, 0);
}

// ---- The recommended order: rate limit outside the bulkhead, a
// per-attempt timeout inside retry ----

#[tokio::test(start_paused = true)]
async fn retry_over_a_per_attempt_timeout_retries_a_hung_attempt_within_the_overall_deadline() {
    // The first attempt hangs; the per-attempt timeout (50 ms) cuts it and
    // retry tries again within the overall 300 ms.
    let (dep, seen) = dep(|n| {
        if n == 0 {
            Step::Ok(Duration::from_secs(10))
        } else {
            Step::Ok(10 * MS)
        }
    });
    let breaker = breaker(4);
    let bulkhead = bulkhead(2);
    let svc: Stack = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(timeout(300 * MS))
            .layer(retry(3).layer())
            .layer(breaker.layer())
            .layer(limiter(1_000, None).layer())
            .layer(bulkhead.layer())
            .layer(timeout(50 * MS))
            .service(dep),
    );
    let start = Instant::now();
    assert_eq!(call(&svc, 1).await.unwrap(), 1);
    assert_eq!(ms_since(start), 50 + 5 + 10);
    assert_eq!((seen.calls(), seen.cancelled()), (2, 1));
    assert_eq!(bulkhead.snapshot().in_flight, 0);
    // The breaker counted the timed-out attempt as a failure.
    assert_eq!(breaker.metrics().failures, 1);
}

/// A bulkhead of one and a limiter of five a second that waits, the
/// limiter outside the bulkhead or inside it. Returns the stack with one
/// call made and a second waiting 100 ms into its wait for a cell.
async fn limiter_and_bulkhead(
    limiter_outside: bool,
) -> (
    Stack,
    Bulkhead,
    impl Future<Output = Result<usize, BoxError>>,
) {
    let (dep, _seen) = dep(|_| Step::Ok(MS));
    let bulkhead = bulkhead(1);
    let limiter = limiter(5, Some(Duration::from_secs(1)));
    let builder = ServiceBuilder::new().layer(timeout(Duration::from_secs(1)));
    let svc: Stack = if limiter_outside {
        BoxCloneSyncService::new(
            builder
                .layer(limiter.layer())
                .layer(bulkhead.layer())
                .service(dep),
        )
    } else {
        BoxCloneSyncService::new(
            builder
                .layer(bulkhead.layer())
                .layer(limiter.layer())
                .service(dep),
        )
    };
    call(&svc, 1).await.unwrap();
    let mut waiting = Box::pin(svc.clone().oneshot(2));
    assert!(poll!(waiting.as_mut()).is_pending());
    tokio::time::advance(100 * MS).await;
    (svc, bulkhead, waiting)
}

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_outside_the_bulkhead_waits_without_holding_a_permit() {
    let (_svc, bulkhead, waiting) = limiter_and_bulkhead(true).await;
    assert_eq!(
        bulkhead.snapshot().in_flight,
        0,
        "waiting for a cell, the call holds no permit"
    );
    waiting.await.unwrap();
}

// ---- Orders the README warns about, and what they do ----

#[tokio::test(start_paused = true)]
async fn warned_breaker_outside_retry_sees_one_outcome_per_call_not_per_attempt() {
    // Three failed attempts count as one failure: the breaker trips three
    // times later than it would under retry.
    let (dep, seen) = dep(|_| Step::Fail(MS));
    let breaker = breaker(3);
    let svc: Stack = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(timeout(Duration::from_secs(1)))
            .layer(breaker.layer())
            .layer(retry(3).layer())
            .service(dep),
    );
    call(&svc, 1).await.unwrap_err();
    assert_eq!(seen.calls(), 3);
    assert_eq!(breaker.metrics().failures, 1);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn warned_bulkhead_outside_retry_holds_its_permit_through_the_backoff() {
    let (dep, _seen) = dep(|n| if n == 0 { Step::Fail(MS) } else { Step::Ok(MS) });
    let bulkhead = bulkhead(1);
    let svc: Stack = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(timeout(Duration::from_secs(1)))
            .layer(bulkhead.layer())
            .layer(retry(3).layer())
            .service(dep),
    );
    let mut first = Box::pin(call(&svc, 1));
    assert!(poll!(first.as_mut()).is_pending());
    tokio::time::advance(3 * MS).await; // failed, now in its 5 ms backoff
    assert!(poll!(first.as_mut()).is_pending());
    let err = call(&svc, 2).await.unwrap_err();
    assert_eq!(
        reason(&err),
        Reason::BulkheadFull,
        "a sleeping retry holds the permit"
    );
    first.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_issues_order_with_everything_healthy_adds_no_time() {
    let (dep, seen) = dep(|_| Step::Ok(7 * MS));
    let f = full(dep, Duration::from_secs(1), 4, limiter(1_000, None));
    for i in 0..20 {
        let start = Instant::now();
        call(&f.svc, i).await.unwrap();
        assert_eq!(ms_since(start), 7);
        tokio::time::advance(MS).await;
    }
    assert_eq!(seen.calls(), 20);
    assert_eq!(f.breaker.metrics().failures, 0);
}

#[tokio::test(start_paused = true)]
async fn warned_rate_limiter_inside_the_bulkhead_holds_a_permit_while_it_waits() {
    let (svc, bulkhead, waiting) = limiter_and_bulkhead(false).await;
    assert_eq!(
        bulkhead.snapshot().in_flight,
        1,
        "it waits holding the permit"
    );
    let err = call(&svc, 3).await.unwrap_err();
    assert_eq!(reason(&err), Reason::BulkheadFull);
    waiting.await.unwrap();
}

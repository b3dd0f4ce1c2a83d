//! The deadline contract: no backoff sleeps past the deadline, a backoff
//! shrinks to fit, no attempt starts that cannot finish in time, and a call
//! that stops for its deadline hands back its last outcome.

mod common;

use ballast_deadline::{Deadline, DeadlineCarrier, FromRequest};
use ballast_retry::{Backoff, CallError, Jitter, Policy, Reason, Rejected, RetryErrors, retry};
use common::{MS, Scripted, builder, io_kind};
use std::io;
use std::time::Duration;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

fn slow_backoff() -> Backoff {
    Backoff::constant(Duration::from_secs(1))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_backoff_shrinks_to_leave_an_attempt_its_time_before_the_deadline() {
    let dep = Scripted::new(&[Err(io::ErrorKind::ConnectionRefused), Ok(200)]);
    let config = builder()
        .backoff(slow_backoff())
        .min_attempt_time(50 * MS)
        .build()
        .unwrap();
    let policy = Policy::new(config, RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let answer = Deadline::after(250 * MS)
        .scope(async { svc.ready().await.unwrap().call("GET").await })
        .await
        .unwrap();
    assert_eq!(answer, 200);
    // 1 s of backoff would pass the deadline: 200 ms leaves the 50 ms.
    assert_eq!(dep.start_ms(), [0, 200]);
}

#[tokio::test(start_paused = true)]
async fn no_attempt_starts_that_cannot_finish_before_the_deadline() {
    let dep = Scripted::down();
    let config = builder().min_attempt_time(50 * MS).build().unwrap();
    let policy = Policy::new(config, RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let start = Instant::now();
    let err = Deadline::after(30 * MS)
        .scope(async { svc.ready().await.unwrap().call("GET").await })
        .await
        .unwrap_err();
    // The last attempt's own error, not a made-up rejection.
    assert_eq!(io_kind(&err), Some(io::ErrorKind::ConnectionRefused));
    assert!(err.downcast_ref::<Rejected>().is_none());
    assert_eq!(dep.calls(), 1);
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "given up at once, not at the deadline"
    );
    let m = policy.metrics();
    assert_eq!((m.attempts, m.gave_up, m.expired), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_response_the_deadline_leaves_no_time_to_retry_is_returned_as_it_is() {
    // Retrying 503s: the dependency answers 503, the deadline is too close.
    let dep = Scripted::new(&[Ok(503)]);
    let config = builder().min_attempt_time(50 * MS).build().unwrap();
    let policy = Policy::new(config, |r: &Result<u16, io::Error>| match r {
        Ok(503) => ballast_retry::Action::Retry,
        _ => ballast_retry::Action::Return,
    });
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let answer = Deadline::after(30 * MS)
        .scope(async { svc.ready().await.unwrap().call("GET").await })
        .await
        .unwrap();
    assert_eq!(answer, 503);
    assert_eq!(dep.calls(), 1);
    assert_eq!(policy.metrics().gave_up, 1);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_passed_before_the_call_gets_one_attempt_from_the_layer_and_none_from_the_helper()
 {
    let dep = Scripted::down();
    let policy = Policy::new(builder().build().unwrap(), RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let deadline = Deadline::after(10 * MS);
    tokio::time::advance(20 * MS).await;
    // The layer leaves refusing expired requests to the deadline layer
    // below it: one attempt, its own error, no retry.
    let err = deadline
        .scope(async { svc.ready().await.unwrap().call("GET").await })
        .await
        .unwrap_err();
    assert_eq!(io_kind(&err), Some(io::ErrorKind::ConnectionRefused));
    assert_eq!(dep.calls(), 1);
    let m = policy.metrics();
    assert_eq!((m.calls, m.attempts, m.gave_up, m.expired), (1, 1, 1, 0));

    // The helper refuses at once with the deadline's rejection: `op` is
    // never run.
    let mut ran = false;
    let result: Result<(), _> = deadline
        .scope(retry(&policy, || {
            ran = true;
            async { Err(io::Error::other("down")) }
        }))
        .await;
    let Err(CallError::Rejected(rejected)) = result else {
        panic!("the deadline's rejection, not {result:?}");
    };
    assert_eq!(rejected.reason(), Reason::DeadlineExceeded);
    assert!(!ran);
    let m = policy.metrics();
    assert_eq!((m.calls, m.attempts, m.expired), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn the_previous_attempt_duration_is_what_the_next_one_is_expected_to_need() {
    // Each attempt takes 100 ms; 150 ms of budget leaves room for one.
    let dep = Scripted::down().latency(100 * MS);
    let policy = Policy::new(builder().build().unwrap(), RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let err = Deadline::after(150 * MS)
        .scope(async { svc.ready().await.unwrap().call("GET").await })
        .await
        .unwrap_err();
    assert_eq!(io_kind(&err), Some(io::ErrorKind::ConnectionRefused));
    assert_eq!(dep.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn retries_never_run_past_the_deadline() {
    let dep = Scripted::down().latency(10 * MS);
    let policy = Policy::new(builder().max_attempts(50).build().unwrap(), RetryErrors);
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer())
        .service(dep.clone());
    let deadline = Deadline::after(Duration::from_millis(475));
    let _ = deadline
        .scope(async { svc.ready().await.unwrap().call("GET").await })
        .await;
    assert!(Instant::now() <= deadline.instant());
    // Every 110 ms; after the attempt ending at 450, 25 ms are left: the
    // backoff shrinks to 15 ms and the last attempt ends at the deadline.
    assert_eq!(dep.start_ms(), [0, 110, 220, 330, 440, 465]);
}

/// A request carrying its own deadline.
#[derive(Clone)]
struct WithDeadline(Deadline);

// It may always be sent again.
impl ballast_retry::Resendable for WithDeadline {}

impl DeadlineCarrier for WithDeadline {
    fn deadline(&self) -> Option<Deadline> {
        Some(self.0)
    }

    fn set_deadline(&mut self, deadline: Deadline) {
        self.0 = deadline;
    }
}

#[tokio::test(start_paused = true)]
async fn the_layer_reads_a_request_deadline_through_its_source() {
    let dep = Scripted::down();
    let policy = Policy::new(
        builder().min_attempt_time(50 * MS).build().unwrap(),
        RetryErrors,
    );
    let layer = policy.layer().source(FromRequest);
    let mut svc = ServiceBuilder::new()
        .layer(layer)
        .map_request(|_: WithDeadline| "GET")
        .service(dep.clone());
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(WithDeadline(Deadline::after(40 * MS)))
        .await
        .unwrap_err();
    // 40 ms left after the first attempt, less than the 50 ms it needs.
    assert_eq!(io_kind(&err), Some(io::ErrorKind::ConnectionRefused));
    assert_eq!(dep.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_helper_stops_with_the_last_error_when_the_deadline_is_too_close() {
    let policy = Policy::new(
        builder().backoff(slow_backoff()).build().unwrap(),
        RetryErrors,
    );
    let mut attempts = 0;
    let start = Instant::now();
    let result: Result<(), _> = Deadline::after(500 * MS)
        .scope(retry(&policy, || {
            attempts += 1;
            let n = attempts;
            async move { Err(io::Error::other(format!("down {n}"))) }
        }))
        .await;
    // The first retry shrinks to 490 ms, the second cannot fit: the
    // second attempt's own error comes back at once.
    let err = result.unwrap_err();
    assert!(matches!(&err, CallError::Inner(e) if e.to_string() == "down 2"));
    assert_eq!(attempts, 2);
    assert_eq!(start.elapsed(), 490 * MS);
}

//! The adaptive limiter's layer, helper and handle: refusals, cancellation,
//! shadow mode, sharing between clones, a user's own algorithm.

use ballast_bulkhead::adaptive::{
    AdaptiveConfig, AdaptiveLimiter, LimitAlgorithm, Sample, Update, Vegas,
};
use ballast_bulkhead::{BoxError, Reason, Rejected};
use ballast_core::CallError;
use futures::FutureExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tower::{Service, ServiceExt, service_fn};

/// Holds the limit where it is set: the tests below are about admission,
/// not about how the limit moves.
struct Hold;

impl LimitAlgorithm for Hold {
    fn name(&self) -> &'static str {
        "hold"
    }
    fn update(&mut self, limit: f64, _: &Sample) -> Update {
        Update::new(limit, "hold")
    }
}

fn held(limit: u32, shadow: bool) -> AdaptiveLimiter {
    let config = AdaptiveConfig::builder()
        .initial_limit(limit)
        .min_window_samples(1)
        .shadow(shadow)
        .build()
        .unwrap();
    AdaptiveLimiter::with_algorithm(config, Hold)
}

/// A service that answers when told to, through a oneshot per call.
fn gated() -> impl Service<Gate, Response = u32, Error = BoxError, Future: Send> + Clone {
    service_fn(|rx: Gate| async move {
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(BoxError::from(e)),
            Err(_) => Err(BoxError::from("sender dropped")),
        }
    })
}

/// A request: the answer, when it is sent.
type Gate = oneshot::Receiver<Result<u32, &'static str>>;

#[tokio::test(start_paused = true)]
async fn a_call_over_the_limit_is_refused_at_once_with_overloaded() {
    let limiter = held(1, false);
    let svc = gated();
    let mut svc = tower::ServiceBuilder::new()
        .layer(limiter.layer())
        .service(svc);
    let (tx, rx) = oneshot::channel();
    let first = svc.ready().await.unwrap().call(rx);
    let (_tx2, rx2) = oneshot::channel();
    let err = svc.ready().await.unwrap().call(rx2).await.unwrap_err();
    let rejected = err
        .downcast_ref::<Rejected>()
        .expect("refused by the limiter");
    assert_eq!(rejected.reason(), Reason::Overloaded);
    // No round trip measured yet: no hint.
    assert_eq!(rejected.retry_after_hint(), None);
    tx.send(Ok(7)).unwrap();
    assert_eq!(first.await.unwrap(), 7);
    let s = limiter.snapshot();
    assert_eq!((s.in_flight, s.limit, s.rejected), (0, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_refusal_hints_to_retry_after_about_one_round_trip() {
    let limiter = held(1, false);
    limiter
        .call(|| async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok::<_, ()>(())
        })
        .await
        .unwrap();
    let _permit = limiter.acquire().unwrap();
    let rejected = limiter.acquire().unwrap_err();
    assert_eq!(rejected.retry_after_hint(), Some(Duration::from_millis(30)));
    assert_eq!(limiter.snapshot().last_rtt, Some(Duration::from_millis(30)));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_running_call_gives_its_permit_back_and_records_nothing() {
    let limiter = held(1, false);
    let svc = gated();
    let mut svc = tower::ServiceBuilder::new()
        .layer(limiter.layer())
        .service(svc);
    let (_tx, rx) = oneshot::channel();
    let mut fut = Box::pin(svc.ready().await.unwrap().call(rx));
    assert!(fut.as_mut().now_or_never().is_none(), "still running");
    assert_eq!(limiter.snapshot().in_flight, 1);
    drop(fut);
    let s = limiter.snapshot();
    assert_eq!((s.in_flight, s.windows), (0, 0));
    // The permit is free again.
    let (tx, rx) = oneshot::channel();
    tx.send(Ok(1)).unwrap();
    assert_eq!(svc.ready().await.unwrap().call(rx).await.unwrap(), 1);
    assert_eq!(limiter.snapshot().windows, 1);
}

/// A service whose `call` itself panics, before it returns a future.
fn panicking_call(_: u32) -> std::future::Ready<Result<u32, BoxError>> {
    panic!("the call panicked before returning a future")
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_inner_call_itself_gives_the_permit_back() {
    let limiter = held(1, false);
    let mut svc = tower::ServiceBuilder::new()
        .layer(limiter.layer())
        .service(service_fn(panicking_call));
    svc.ready().await.unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| svc.call(1)));
    assert!(caught.is_err(), "the panic reaches the caller");
    assert_eq!(
        limiter.snapshot().in_flight,
        0,
        "the slot is not held forever"
    );
    let permit = limiter.acquire().expect("the limit of one is free again");
    drop(permit);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_helper_call_gives_its_permit_back_and_records_nothing() {
    let limiter = held(1, false);
    let call = limiter.call(std::future::pending::<Result<(), ()>>);
    let mut call = Box::pin(call);
    assert!(call.as_mut().now_or_never().is_none());
    assert_eq!(limiter.snapshot().in_flight, 1);
    drop(call);
    let s = limiter.snapshot();
    assert_eq!((s.in_flight, s.windows), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn an_unfinished_permit_dropped_records_nothing_a_finished_one_does() {
    let limiter = held(2, false);
    let p = limiter.acquire().unwrap();
    assert_eq!(p.in_flight_at_start(), 1);
    drop(p);
    assert_eq!(limiter.snapshot().windows, 0);
    // A window of two (the limit): one finished well, one dropped.
    limiter.acquire().unwrap().success();
    limiter.acquire().unwrap().dropped();
    let s = limiter.snapshot();
    assert_eq!((s.in_flight, s.windows), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn an_inner_error_is_passed_through_and_counts_as_a_drop() {
    /// Records whether each window saw a drop.
    struct Watch(Arc<Mutex<Vec<bool>>>);
    impl LimitAlgorithm for Watch {
        fn name(&self) -> &'static str {
            "watch"
        }
        fn update(&mut self, limit: f64, sample: &Sample) -> Update {
            self.0.lock().unwrap().push(sample.dropped);
            Update::new(limit, "watch")
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let config = AdaptiveConfig::builder()
        .initial_limit(1)
        .min_window_samples(1)
        .build()
        .unwrap();
    let limiter = AdaptiveLimiter::with_algorithm(config, Watch(seen.clone()));
    let err = limiter
        .call(|| async { Err::<(), _>("boom") })
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Inner("boom")));
    limiter.call(|| async { Ok::<_, ()>(()) }).await.unwrap();
    let svc = gated();
    let mut svc = tower::ServiceBuilder::new()
        .layer(limiter.layer())
        .service(svc);
    let (tx, rx) = oneshot::channel();
    tx.send(Err("no")).unwrap();
    let err = svc.ready().await.unwrap().call(rx).await.unwrap_err();
    assert_eq!(err.to_string(), "no");
    assert_eq!(*seen.lock().unwrap(), vec![true, false, true]);
}

#[tokio::test(start_paused = true)]
async fn shadow_mode_admits_everything_and_counts_what_it_would_have_refused() {
    let limiter = held(1, true);
    let a = limiter.acquire().unwrap();
    let b = limiter.acquire().expect("shadow mode admits");
    let c = limiter.acquire().expect("shadow mode admits");
    let s = limiter.snapshot();
    assert_eq!(
        (s.in_flight, s.limit, s.rejected, s.would_have_rejected),
        (3, 1, 0, 2)
    );
    drop((a, b, c));
    assert_eq!(limiter.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn clones_and_services_share_one_limit() {
    let limiter = held(1, false);
    let clone = limiter.clone();
    let svc = gated();
    let mut a = tower::ServiceBuilder::new()
        .layer(limiter.layer())
        .service(svc.clone());
    // A second stack, built with the ServiceBuilder extension.
    let mut b = tower::ServiceBuilder::new()
        .layer(limiter.layer())
        .service(svc);
    let (_tx, rx) = oneshot::channel();
    let running = a.ready().await.unwrap().call(rx);
    let (_tx2, rx2) = oneshot::channel();
    assert!(b.ready().await.unwrap().call(rx2).await.is_err());
    assert!(clone.acquire().is_err());
    assert_eq!(clone.snapshot().rejected, 2);
    drop(running);
    assert!(clone.acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_service_polled_ready_and_never_called_holds_no_permit() {
    let limiter = held(1, false);
    let svc = gated();
    let mut idle = tower::ServiceBuilder::new()
        .layer(limiter.layer())
        .service(svc);
    let mut busy = idle.clone();
    idle.ready().await.unwrap();
    let (tx, rx) = oneshot::channel();
    tx.send(Ok(3)).unwrap();
    assert_eq!(busy.ready().await.unwrap().call(rx).await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn set_limit_moves_the_limit_within_the_bounds() {
    let config = AdaptiveConfig::builder()
        .min_limit(2)
        .max_limit(10)
        .build()
        .unwrap();
    let limiter = AdaptiveLimiter::new(config);
    limiter.set_limit(5);
    assert_eq!(limiter.snapshot().limit, 5);
    limiter.set_limit(100);
    assert_eq!(limiter.snapshot().limit, 10);
    limiter.set_limit(0);
    let s = limiter.snapshot();
    assert_eq!((s.limit, s.limit_changes), (2, 3));
}

#[tokio::test(start_paused = true)]
async fn the_limit_follows_a_users_algorithm_once_per_limits_worth_of_calls() {
    /// Adds one per window and remembers the window sizes.
    struct Count(Arc<Mutex<Vec<u32>>>);
    impl LimitAlgorithm for Count {
        fn name(&self) -> &'static str {
            "count"
        }
        fn update(&mut self, limit: f64, sample: &Sample) -> Update {
            self.0.lock().unwrap().push(sample.calls);
            Update::new(limit + 1.0, "count")
        }
    }
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let config = AdaptiveConfig::builder()
        .initial_limit(3)
        .min_window_samples(1)
        .build()
        .unwrap();
    let limiter = AdaptiveLimiter::with_algorithm(config, Count(sizes.clone()));
    for _ in 0..8 {
        limiter.acquire().unwrap().success();
    }
    // Three calls under a limit of 3, then four under 4; the eighth waits
    // for four more.
    let s = limiter.snapshot();
    assert_eq!((s.limit, s.windows, s.algorithm), (5, 2, "count"));
    assert_eq!(*sizes.lock().unwrap(), vec![3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_window_of_one_round_trip_lets_vegas_double_from_a_low_limit() {
    let config = AdaptiveConfig::builder()
        .initial_limit(4)
        .min_window_samples(1)
        .algorithm(Vegas::default())
        .build()
        .unwrap();
    let limiter = AdaptiveLimiter::new(config);
    let permits: Vec<_> = (0..4).map(|_| limiter.acquire().unwrap()).collect();
    tokio::time::advance(Duration::from_millis(10)).await;
    for p in permits {
        p.success();
    }
    // Four calls under a limit of 4 made a window, and Vegas's slow start
    // doubled the limit.
    let s = limiter.snapshot();
    assert_eq!((s.windows, s.limit), (1, 8));
    assert_eq!(s.min_rtt, Some(Duration::from_millis(10)));
}

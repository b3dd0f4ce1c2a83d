//! The timeout layer on tokio's paused clock.

use ballast_deadline::{
    BoxError, Config, Deadline, DeadlineCarrier, FromRequest, FromRequestOrTaskLocal, Reason,
    Rejected, TimeoutLayer,
};
use futures::FutureExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};

const MS: Duration = Duration::from_millis(1);

/// A request that carries its own deadline.
#[derive(Debug, Default)]
struct Req {
    deadline: Option<Deadline>,
}

impl DeadlineCarrier for Req {
    fn deadline(&self) -> Option<Deadline> {
        self.deadline
    }
    fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = Some(deadline);
    }
}

fn req(deadline: Option<Deadline>) -> Req {
    Req { deadline }
}

/// A service that sleeps `work` and counts its calls.
fn sleeper(
    work: Duration,
    calls: Arc<AtomicUsize>,
) -> impl Service<Req, Response = Instant, Error = std::io::Error> + Clone {
    service_fn(move |_: Req| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(work).await;
            Ok(Instant::now())
        }
    })
}

fn layer(timeout: Option<Duration>) -> TimeoutLayer<FromRequest> {
    TimeoutLayer::new(Config::builder().timeout_opt(timeout).build().unwrap()).source(FromRequest)
}

fn is_deadline_exceeded(err: &BoxError) -> bool {
    err.downcast_ref::<Rejected>()
        .is_some_and(|r| r.reason() == Reason::DeadlineExceeded)
}

#[tokio::test(start_paused = true)]
async fn timeout_fires_at_the_layers_timeout_when_it_is_earlier_than_the_deadline() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(Some(100 * MS)).layer(sleeper(10 * 1000 * MS, calls.clone()));
    let start = Instant::now();
    let deadline = Deadline::after(300 * MS);
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(req(Some(deadline)))
        .await
        .unwrap_err();
    assert!(is_deadline_exceeded(&err), "{err}");
    assert_eq!(start.elapsed(), 100 * MS);
}

#[tokio::test(start_paused = true)]
async fn timeout_fires_at_the_requests_deadline_when_it_is_earlier_than_the_timeout() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(Some(1000 * MS)).layer(sleeper(10 * 1000 * MS, calls.clone()));
    let start = Instant::now();
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(req(Some(Deadline::after(300 * MS))))
        .await
        .unwrap_err();
    assert!(is_deadline_exceeded(&err), "{err}");
    assert_eq!(start.elapsed(), 300 * MS);
}

#[tokio::test(start_paused = true)]
async fn the_requests_deadline_alone_is_enforced_when_the_layer_has_no_timeout() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(None).layer(sleeper(10 * 1000 * MS, calls.clone()));
    let start = Instant::now();
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(req(Some(Deadline::after(250 * MS))))
        .await
        .unwrap_err();
    assert!(is_deadline_exceeded(&err));
    assert_eq!(start.elapsed(), 250 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_finishes_in_time_returns_the_inner_response() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(Some(100 * MS)).layer(sleeper(99 * MS, calls.clone()));
    let start = Instant::now();
    let done = svc.ready().await.unwrap().call(req(None)).await.unwrap();
    assert_eq!(done - start, 99 * MS);
}

#[tokio::test(start_paused = true)]
async fn without_timeout_or_deadline_the_call_is_not_limited() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(None).layer(sleeper(3600 * 1000 * MS, calls.clone()));
    let start = Instant::now();
    let done = svc.ready().await.unwrap().call(req(None)).await.unwrap();
    assert_eq!(done - start, 3600 * 1000 * MS);
}

#[tokio::test(start_paused = true)]
async fn an_expired_request_is_refused_without_calling_the_inner_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(Some(1000 * MS)).layer(sleeper(MS, calls.clone()));
    let deadline = Deadline::after(10 * MS);
    tokio::time::advance(10 * MS).await;
    let start = Instant::now();
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(req(Some(deadline)))
        .await
        .unwrap_err();
    assert!(is_deadline_exceeded(&err));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(start.elapsed(), Duration::ZERO, "refused at once");
}

#[tokio::test(start_paused = true)]
async fn an_expired_task_deadline_is_refused_without_calling_the_inner_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = TimeoutLayer::new(Config::default()).layer(sleeper(MS, calls.clone()));
    let deadline = Deadline::after(10 * MS);
    let err = deadline
        .scope(async {
            tokio::time::advance(20 * MS).await;
            svc.ready().await.unwrap().call(req(None)).await
        })
        .await
        .unwrap_err();
    assert!(is_deadline_exceeded(&err));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn deadline_error_downcasts_to_rejected_while_inner_errors_do_not() {
    let failing = service_fn(|_: Req| async {
        Err::<(), _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ))
    });
    let mut svc = layer(Some(100 * MS)).layer(failing);
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(req(None))
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<Rejected>().is_none());
    let io = err
        .downcast_ref::<std::io::Error>()
        .expect("the inner error");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);

    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(Some(100 * MS)).layer(sleeper(1000 * MS, calls));
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(req(None))
        .await
        .unwrap_err();
    let rejected = err.downcast_ref::<Rejected>().expect("a ballast rejection");
    assert_eq!(rejected.reason(), Reason::DeadlineExceeded);
    assert!(!rejected.is_permanent());
    assert_eq!(err.to_string(), "deadline exceeded");
    assert!(err.downcast_ref::<std::io::Error>().is_none());
}

#[tokio::test(start_paused = true)]
async fn the_inner_service_sees_the_effective_deadline_as_the_current_one() {
    let seen = service_fn(|_: Req| async { Ok::<_, std::io::Error>(Deadline::current()) });
    // The layer's 100 ms are earlier than the request's 300 ms.
    let mut svc = layer(Some(100 * MS)).layer(seen);
    let start = Instant::now();
    let current = svc
        .ready()
        .await
        .unwrap()
        .call(req(Some(Deadline::after(300 * MS))))
        .await
        .unwrap()
        .expect("the inner call runs in a deadline scope");
    assert_eq!(current.instant(), start + 100 * MS);

    // The request's 50 ms are earlier than the layer's 100 ms.
    let seen = service_fn(|_: Req| async { Ok::<_, std::io::Error>(Deadline::current()) });
    let mut svc = layer(Some(100 * MS)).layer(seen);
    let d = Deadline::after(50 * MS);
    let current = svc.ready().await.unwrap().call(req(Some(d))).await.unwrap();
    assert_eq!(current, Some(d));
}

#[tokio::test(start_paused = true)]
async fn the_scope_is_current_while_the_inner_future_runs_across_polls() {
    let seen = service_fn(|_: Req| async {
        let before = Deadline::current();
        tokio::time::sleep(10 * MS).await;
        Ok::<_, std::io::Error>((before, Deadline::current()))
    });
    let mut svc = layer(Some(100 * MS)).layer(seen);
    let (before, after) = svc.ready().await.unwrap().call(req(None)).await.unwrap();
    assert!(before.is_some());
    assert_eq!(before, after);
    assert_eq!(Deadline::current(), None, "the scope ends with the call");
}

#[tokio::test(start_paused = true)]
async fn the_request_and_task_source_keeps_the_earlier_of_the_two() {
    let seen = service_fn(|_: Req| async { Ok::<_, std::io::Error>(Deadline::current()) });
    let mut svc = TimeoutLayer::new(Config::default())
        .source(FromRequestOrTaskLocal)
        .layer(seen);
    let task = Deadline::after(50 * MS);
    let request = Deadline::after(80 * MS);
    let current = task
        .scope(async { svc.ready().await.unwrap().call(req(Some(request))).await })
        .await
        .unwrap();
    assert_eq!(current, Some(task));

    let current = svc.ready().await.unwrap().call(req(Some(request))).await;
    assert_eq!(current.unwrap(), Some(request));
}

#[tokio::test(start_paused = true)]
async fn the_tasks_deadline_binds_even_when_the_source_reads_the_request() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(None).layer(sleeper(1000 * MS, calls.clone()));
    let caller = Deadline::after(40 * MS);
    let start = Instant::now();
    let err = caller
        .scope(async {
            let request = Deadline::after(500 * MS);
            svc.ready().await.unwrap().call(req(Some(request))).await
        })
        .await
        .unwrap_err();
    assert!(is_deadline_exceeded(&err));
    assert_eq!(start.elapsed(), 40 * MS);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_response_future_cancels_the_inner_work() {
    struct SetOnDrop(Arc<AtomicUsize>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (d, f) = (dropped.clone(), finished.clone());
    let work = service_fn(move |_: Req| {
        let guard = SetOnDrop(d.clone());
        let finished = f.clone();
        async move {
            let _guard = guard;
            tokio::time::sleep(1000 * MS).await;
            finished.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(())
        }
    });
    let mut svc = layer(Some(5000 * MS)).layer(work);
    let mut fut = Box::pin(svc.ready().await.unwrap().call(req(None)));
    assert!(fut.as_mut().now_or_never().is_none(), "still running");
    drop(fut);
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "inner future dropped");
    tokio::time::advance(2000 * MS).await;
    assert_eq!(finished.load(Ordering::SeqCst), 0, "work never finished");
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_call_drops_the_inner_work() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let work = service_fn(move |_: Req| {
        let finished = f.clone();
        async move {
            tokio::time::sleep(1000 * MS).await;
            finished.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(())
        }
    });
    let mut svc = layer(Some(100 * MS)).layer(work);
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(req(None))
        .await
        .unwrap_err();
    assert!(is_deadline_exceeded(&err));
    tokio::time::advance(2000 * MS).await;
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn an_http_requests_deadline_in_extensions_is_enforced() {
    let slow = service_fn(|_: http::Request<()>| async {
        tokio::time::sleep(1000 * MS).await;
        Ok::<_, std::io::Error>(())
    });
    let mut svc = TimeoutLayer::new(Config::default())
        .source(FromRequest)
        .layer(slow);
    let mut request = http::Request::new(());
    request.set_deadline(Deadline::after(200 * MS));
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call(request).await.unwrap_err();
    assert!(is_deadline_exceeded(&err));
    assert_eq!(start.elapsed(), 200 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_sources_binding_deadline_is_the_earlier_of_its_own_and_the_tasks() {
    use ballast_deadline::{DeadlineSource, TaskLocal};
    struct Fixed(Deadline);
    impl DeadlineSource<()> for Fixed {
        fn deadline(&self, _: &()) -> Option<Deadline> {
            Some(self.0)
        }
    }
    let near = Deadline::after(10 * MS);
    let far = Deadline::after(90 * MS);
    assert_eq!(Fixed(far).binding(&()), Some(far), "no task deadline");
    assert_eq!(
        near.scope(async { Fixed(far).binding(&()) }).await,
        Some(near)
    );
    assert_eq!(
        far.scope(async { Fixed(near).binding(&()) }).await,
        Some(near)
    );
    // The ready-made sources that read the task agree, reading it once.
    assert_eq!(
        near.scope(async { TaskLocal.binding(&()) }).await,
        Some(near)
    );
    assert_eq!(TaskLocal.binding(&()), None);
}

/// A service that notes the task's deadline in `call`, before its future
/// exists: where retry plans its attempts and a bulkhead bounds its queue.
#[derive(Clone, Default)]
struct SeesDeadlineInCall {
    seen: Arc<std::sync::Mutex<Option<Option<Deadline>>>>,
}

impl Service<Req> for SeesDeadlineInCall {
    type Response = ();
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<(), std::io::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Req) -> Self::Future {
        *self.seen.lock().unwrap() = Some(Deadline::current());
        std::future::ready(Ok(()))
    }
}

#[tokio::test(start_paused = true)]
async fn the_layer_below_sees_the_deadline_inside_its_call_not_only_in_its_future() {
    let inner = SeesDeadlineInCall::default();
    let seen = inner.seen.clone();
    let start = Instant::now();
    layer(Some(100 * MS))
        .layer(inner)
        .oneshot(req(None))
        .await
        .unwrap();
    let in_call = seen.lock().unwrap().expect("the inner service was called");
    assert_eq!(
        in_call.map(Deadline::instant),
        Some(start + 100 * MS),
        "the timeout's deadline is current while the inner `call` runs"
    );
    assert_eq!(Deadline::current(), None, "and only then");
}

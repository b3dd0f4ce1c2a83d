//! The tower layer: services built from one breaker share it, rejections
//! are a typed `Rejected` inside the `BoxError` (the inner error is not),
//! and `poll_ready` reserves nothing.

mod common;

use ballast_circuit_breaker::{BoxError, Breaker, CircuitBreakerLayer, Reason, Rejected, State};
use common::{WAIT, builder, rejection};
use futures::FutureExt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::advance;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

/// The config of `common::builder`, named "inventory".
fn breaker(permits: u32) -> Breaker {
    Breaker::new(builder(permits).name("inventory").build().unwrap())
}

/// The dependency answers `Ok(n)` for `n > 0` and fails for 0.
async fn dependency(n: u32) -> Result<u32, io::Error> {
    if n == 0 {
        Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"))
    } else {
        Ok(n)
    }
}

async fn call<S>(svc: &mut S, n: u32) -> Result<u32, BoxError>
where
    S: Service<u32, Response = u32, Error = BoxError>,
{
    svc.ready().await?.call(n).await
}

#[tokio::test(start_paused = true)]
async fn clones_of_a_layered_service_share_one_breaker() {
    let b = breaker(1);
    let mut a = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(dependency));
    let mut c = a.clone();
    call(&mut a, 0).await.unwrap_err();
    call(&mut c, 0).await.unwrap_err();
    call(&mut a, 0).await.unwrap_err();
    call(&mut c, 0).await.unwrap_err();
    assert_eq!(b.state(), State::Open, "4 failures across two clones");
    let err = call(&mut a, 1).await.unwrap_err();
    assert_eq!(rejection(&err).reason(), Reason::CircuitOpen);
    let err = call(&mut c, 1).await.unwrap_err();
    assert_eq!(rejection(&err).reason(), Reason::CircuitOpen);
    assert_eq!(b.metrics().rejected, 2);
}

#[tokio::test(start_paused = true)]
async fn services_built_from_one_layer_share_its_breaker() {
    let b = breaker(1);
    let layer = b.layer();
    let mut first = layer.layer(service_fn(dependency));
    let mut second = layer.clone().layer(service_fn(dependency));
    for _ in 0..2 {
        call(&mut first, 0).await.unwrap_err();
        call(&mut second, 0).await.unwrap_err();
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(layer.breaker().state(), State::Open);
    assert_eq!(first.breaker().metrics().failures, 4);
}

#[tokio::test(start_paused = true)]
async fn service_builder_ext_puts_services_behind_the_shared_breaker() {
    let b = breaker(1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(dependency));
    for _ in 0..4 {
        call(&mut svc, 0).await.unwrap_err();
    }
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_call_error_downcasts_to_rejected_and_an_inner_error_does_not() {
    let b = breaker(1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(dependency));
    for _ in 0..4 {
        let err = call(&mut svc, 0).await.unwrap_err();
        assert!(err.downcast_ref::<Rejected>().is_none(), "{err}");
        let inner = err.downcast_ref::<io::Error>().expect("the inner error");
        assert_eq!(inner.kind(), io::ErrorKind::ConnectionRefused);
    }
    let err = call(&mut svc, 1).await.unwrap_err();
    assert!(err.downcast_ref::<io::Error>().is_none());
    let r = rejection(&err);
    assert_eq!(r.reason(), Reason::CircuitOpen);
    assert_eq!(r.retry_after_hint(), Some(WAIT));
}

#[tokio::test(start_paused = true)]
async fn rejection_display_reads_like_circuit_open_retry_after() {
    let b = breaker(1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(dependency));
    for _ in 0..4 {
        call(&mut svc, 0).await.unwrap_err();
    }
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(err.to_string(), "circuit open; retry after 30s");
    advance(Duration::from_millis(12_500)).await;
    let err = call(&mut svc, 1).await.unwrap_err();
    // The hint is exact; its display rounds up to whole seconds from 10 s.
    assert_eq!(
        rejection(&err).retry_after_hint(),
        Some(Duration::from_millis(17_500))
    );
    assert_eq!(err.to_string(), "circuit open; retry after 18s");
    advance(Duration::from_secs(15)).await;
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(err.to_string(), "circuit open; retry after 2.5s");
    b.force_open();
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(err.to_string(), "circuit forced open");
}

#[tokio::test(start_paused = true)]
async fn a_rejected_call_never_reaches_the_inner_service() {
    let b = breaker(1);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(move |n: u32| {
            counted.fetch_add(1, Ordering::SeqCst);
            dependency(n)
        }));
    for _ in 0..4 {
        call(&mut svc, 0).await.unwrap_err();
    }
    for _ in 0..10 {
        call(&mut svc, 1).await.unwrap_err();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_on_a_clone_that_is_never_called_holds_nothing() {
    let b = breaker(1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(dependency));
    let mut idle = svc.clone();
    for _ in 0..4 {
        call(&mut svc, 0).await.unwrap_err();
    }
    advance(WAIT).await;

    // Half-open with one probe slot: a clone polled ready (twice) and
    // never called must not take it.
    idle.ready().await.unwrap();
    std::future::poll_fn(|cx| idle.poll_ready(cx))
        .await
        .unwrap();
    assert_eq!(b.metrics().half_open_probes, 0);
    assert_eq!(call(&mut svc, 5).await.unwrap(), 5, "the probe is admitted");
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn response_future_drop_releases_the_probe_for_another_clone() {
    let b = breaker(1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(service_fn(|n: u32| async move {
            if n == 7 {
                std::future::pending::<()>().await;
            }
            dependency(n).await
        }));
    let mut other = svc.clone();
    for _ in 0..4 {
        call(&mut svc, 0).await.unwrap_err();
    }
    advance(WAIT).await;
    let hanging = svc.ready().await.unwrap().call(7);
    let err = call(&mut other, 1).await.unwrap_err();
    assert_eq!(rejection(&err).reason(), Reason::CircuitHalfOpenBusy);
    drop(hanging);
    assert_eq!(call(&mut other, 1).await.unwrap(), 1);
    assert_eq!(b.state(), State::Closed);
}

/// A service that is ready only when told, to check that readiness is the
/// inner service's alone.
#[derive(Clone)]
struct Gate {
    open: Arc<std::sync::atomic::AtomicBool>,
}

impl Service<u32> for Gate {
    type Response = u32;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<u32, io::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        if self.open.load(Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn call(&mut self, n: u32) -> Self::Future {
        Box::pin(dependency(n))
    }
}

#[tokio::test(start_paused = true)]
async fn readiness_is_the_inner_services_even_when_the_circuit_is_open() {
    let b = breaker(1);
    let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(Gate { open: open.clone() });
    for _ in 0..4 {
        call(&mut svc, 0).await.unwrap_err();
    }
    // Open circuit: still ready (the call is refused at once instead of
    // the caller waiting for readiness).
    assert!(svc.ready().now_or_never().is_some());
    open.store(false, Ordering::SeqCst);
    assert!(svc.ready().now_or_never().is_none(), "inner not ready");
}

#[tokio::test(start_paused = true)]
async fn the_layered_service_exposes_its_inner_service_and_breaker() {
    let b = breaker(1);
    let layer: CircuitBreakerLayer = b.layer();
    assert!(format!("{layer:?}").contains("inventory"));
    let mut svc = layer.layer(Gate {
        open: Arc::new(std::sync::atomic::AtomicBool::new(true)),
    });
    assert!(svc.get_ref().open.load(Ordering::SeqCst));
    svc.get_mut().open.store(false, Ordering::SeqCst);
    assert_eq!(svc.breaker().config().name(), "inventory");
    let inner = svc.into_inner();
    assert!(!inner.open.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn layered_services_stack_with_other_layers_and_box_cleanly() {
    let b = breaker(1);
    let mut svc = ServiceBuilder::new()
        .map_err(|e: BoxError| e)
        .layer(b.layer())
        .map_request(|n: u32| n + 1)
        .service(service_fn(dependency))
        .boxed();
    assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), 2);
    b.force_open();
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(rejection(&err).reason(), Reason::CircuitForcedOpen);
}

//! The tower layer: shared state across clones, typed rejections, waits,
//! keyed requests.

use ballast_ratelimit::{BoxError, Config, KeyedRateLimiter, RateLimiter, Rejected};
use std::convert::Infallible;
use std::time::Duration;
use tokio::time::{Instant, advance};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

fn echo() -> impl Service<u32, Response = u32, Error = Infallible, Future: Send> + Clone {
    service_fn(|x: u32| async move { Ok::<_, Infallible>(x) })
}

async fn call<S>(svc: &mut S, req: u32) -> Result<u32, BoxError>
where
    S: Service<u32, Response = u32, Error = BoxError>,
{
    svc.ready().await?.call(req).await
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_limit_and_rejections_downcast() {
    let limiter = RateLimiter::new(
        Config::builder()
            .rate(2, Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    let layer = limiter.layer();
    let mut a = ServiceBuilder::new().layer(layer.clone()).service(echo());
    let mut b = a.clone();
    assert_eq!(call(&mut a, 1).await.unwrap(), 1);
    assert_eq!(call(&mut b, 2).await.unwrap(), 2);
    let err = call(&mut a, 3).await.unwrap_err();
    let rejected = err.downcast_ref::<Rejected>().expect("typed rejection");
    assert_eq!(
        rejected.retry_after_hint(),
        Some(Duration::from_millis(500))
    );
    let mut c = ServiceBuilder::new().layer(layer).service(echo());
    assert!(
        call(&mut c, 4).await.is_err(),
        "a new service shares the limit"
    );
    advance(Duration::from_millis(500)).await;
    assert!(call(&mut c, 5).await.is_ok());
    let m = limiter.metrics();
    assert_eq!((m.admitted, m.rejected), (3, 2));
}

#[tokio::test(start_paused = true)]
async fn wait_mode_delays_the_call_until_its_cell_is_due() {
    let limiter = RateLimiter::new(
        Config::builder()
            .rate(10, Duration::from_secs(1))
            .burst(1)
            .max_wait(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    let mut svc = ServiceBuilder::new().layer(limiter.layer()).service(echo());
    let start = Instant::now();
    for i in 0..3 {
        call(&mut svc, i).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(100) * i);
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiting_call_never_calls_the_inner_service() {
    let limiter = RateLimiter::new(
        Config::builder()
            .rate(10, Duration::from_secs(1))
            .burst(1)
            .max_wait(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = calls.clone();
    let inner = service_fn(move |x: u32| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move { Ok::<_, Infallible>(x) }
    });
    let mut svc = ServiceBuilder::new().layer(limiter.layer()).service(inner);
    call(&mut svc, 0).await.unwrap();
    let fut = svc.ready().await.unwrap().call(1);
    assert_eq!(limiter.metrics().waiting, 1);
    drop(fut);
    assert_eq!(limiter.metrics().waiting, 0);
    advance(Duration::from_secs(1)).await;
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn keyed_layer_limits_each_key_separately() {
    let limiter: KeyedRateLimiter<u32> = KeyedRateLimiter::new(
        Config::builder()
            .rate(1, Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    // The key is the request modulo 2 (think: the client id).
    let mut svc = ServiceBuilder::new()
        .layer(limiter.layer(|req: &u32| req % 2))
        .service(echo());
    call(&mut svc, 0).await.unwrap();
    call(&mut svc, 1).await.unwrap();
    let err = call(&mut svc, 2).await.unwrap_err();
    assert!(err.downcast_ref::<Rejected>().is_some());
    assert_eq!(limiter.len(), 2);
}

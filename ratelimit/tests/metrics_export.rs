//! With feature `metrics`, the direct, keyed and window rate limiters
//! report what they admit and refuse through the `metrics` facade under
//! the family's names, seen by a recording recorder through real layered
//! services.

use ballast_test_support::metrics as recorder;

use ballast_core::metric_names as names;
use ballast_ratelimit::{Config, KeyedRateLimiter, RateLimiter, Rejected};
use std::convert::Infallible;
use std::time::Duration;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const SEC: Duration = Duration::from_secs(1);

fn echo() -> impl Service<u64, Response = u64, Error = Infallible> + Clone {
    service_fn(|n: u64| async move { Ok::<_, Infallible>(n) })
}

#[tokio::test(start_paused = true)]
async fn a_layered_limiter_reports_admitted_and_refused_requests() {
    let recording = recorder::recording();
    let config = Config::builder()
        .name("search")
        .rate(2, SEC)
        .build()
        .unwrap();
    let limiter = metrics::with_local_recorder(&recording, || RateLimiter::new(config));
    let mut svc = ServiceBuilder::new().layer(limiter.layer()).service(echo());
    for n in 0..3 {
        let _ = svc.ready().await.unwrap().call(n).await;
    }
    let err = svc.ready().await.unwrap().call(4).await.unwrap_err();
    assert!(Rejected::find(&err).is_some(), "{err}");

    let n = [("name", "search")];
    assert_eq!(recording.counter(names::RATELIMIT_CALLS, &n), 2);
    let refused = [("name", "search"), ("reason", "rate_limited")];
    assert_eq!(recording.counter(names::RATELIMIT_REFUSALS, &refused), 2);
    let m = limiter.metrics();
    assert_eq!((m.admitted, m.rejected), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn a_layered_keyed_window_limiter_reports_its_decisions() {
    let recording = recorder::recording();
    let config = Config::builder()
        .name("per-client")
        .fixed_window(1, SEC)
        .build()
        .unwrap();
    let limiter = metrics::with_local_recorder(&recording, || KeyedRateLimiter::new(config));
    // The request is its own key: keys 1 and 2 get one each.
    let mut svc = ServiceBuilder::new()
        .layer(limiter.layer(|n: &u64| *n))
        .service(echo());
    svc.ready().await.unwrap().call(1).await.unwrap();
    svc.ready().await.unwrap().call(2).await.unwrap();
    svc.ready().await.unwrap().call(1).await.unwrap_err();

    let n = [("name", "per-client")];
    assert_eq!(recording.counter(names::RATELIMIT_CALLS, &n), 2);
    let refused = [("name", "per-client"), ("reason", "rate_limited")];
    assert_eq!(recording.counter(names::RATELIMIT_REFUSALS, &refused), 1);
}

#[tokio::test(start_paused = true)]
async fn a_sliding_window_limiter_waiting_for_its_cell_counts_it_admitted() {
    let recording = recorder::recording();
    let config = Config::builder()
        .name("sliding")
        .sliding_window(1, SEC)
        .max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let limiter = metrics::with_local_recorder(&recording, || RateLimiter::new(config));
    limiter.until_ready().await.unwrap();
    // The second waits for room in the window, then goes.
    limiter.until_ready().await.unwrap();
    let n = [("name", "sliding")];
    assert_eq!(recording.counter(names::RATELIMIT_CALLS, &n), 2);
    let refused = [("name", "sliding"), ("reason", "rate_limited")];
    assert_eq!(recording.counter(names::RATELIMIT_REFUSALS, &refused), 0);
}

#[test]
fn a_limiter_built_without_a_recorder_reports_nothing_and_works() {
    let limiter = RateLimiter::new(Config::builder().rate(1, SEC).build().unwrap());
    limiter.check().unwrap();
    assert_eq!(limiter.metrics().admitted, 1);
}

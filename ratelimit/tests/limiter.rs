//! The limiter on tokio's paused clock: exact admission, exact waits,
//! deadlines, shadow mode, metrics.

use ballast_deadline::Deadline;
use ballast_ratelimit::{Config, RateLimiter, Reason};
use std::time::Duration;
use tokio::time::{Instant, advance};

fn limiter(per_sec: u32, burst: u32) -> RateLimiter {
    RateLimiter::new(
        Config::builder()
            .rate(per_sec, Duration::from_secs(1))
            .burst(burst)
            .build()
            .unwrap(),
    )
}

/// A limiter of `per_sec` cells a second and a burst of one, in wait mode
/// up to `max_wait`.
fn waiting(per_sec: u32, max_wait: Duration) -> RateLimiter {
    RateLimiter::new(
        Config::builder()
            .rate(per_sec, Duration::from_secs(1))
            .burst(1)
            .max_wait(max_wait)
            .build()
            .unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn gcra_admits_exactly_burst_plus_rate_times_elapsed() {
    let l = limiter(20, 5); // T = 50ms
    let mut admitted = 0u64;
    for ms in 0..=2_000u64 {
        while l.check().is_ok() {
            admitted += 1;
        }
        assert_eq!(admitted, 5 + ms / 50, "at {ms}ms");
        advance(Duration::from_millis(1)).await;
    }
    assert_eq!(l.metrics().admitted, admitted);
}

#[tokio::test(start_paused = true)]
async fn rejection_says_not_now_with_the_exact_wait_or_never() {
    let l = limiter(10, 2);
    l.check_n(2).unwrap();
    advance(Duration::from_millis(30)).await;
    let e = l.check().unwrap_err();
    assert_eq!(e.reason(), Reason::RateLimited);
    assert_eq!(e.retry_after_hint(), Some(Duration::from_millis(70)));
    let never = l.check_n(3).unwrap_err();
    assert!(never.is_permanent());
    assert_eq!(l.metrics().rejected, 2);
}

#[tokio::test(start_paused = true)]
async fn waits_are_exact_and_in_order() {
    let l = waiting(10, Duration::from_secs(1));
    let start = Instant::now();
    let mut admitted_at = Vec::new();
    for _ in 0..4 {
        l.until_ready().await.unwrap();
        admitted_at.push(start.elapsed());
    }
    let ms = Duration::from_millis;
    assert_eq!(admitted_at, [ms(0), ms(100), ms(200), ms(300)]);
}

#[tokio::test(start_paused = true)]
async fn concurrent_waiters_are_spaced_by_the_interval_and_counted() {
    let l = waiting(10, Duration::from_secs(1));
    let start = Instant::now();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let l = l.clone();
            tokio::spawn(async move {
                l.until_ready().await.unwrap();
                start.elapsed()
            })
        })
        .collect();
    tokio::task::yield_now().await;
    assert_eq!(l.metrics().waiting, 2);
    let mut times = Vec::new();
    for t in tasks {
        times.push(t.await.unwrap());
    }
    times.sort();
    let ms = Duration::from_millis;
    assert_eq!(times, [ms(0), ms(100), ms(200)]);
    assert_eq!(l.metrics().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn a_wait_longer_than_the_maximum_is_refused_and_takes_nothing() {
    let l = waiting(10, Duration::from_millis(150));
    l.until_ready().await.unwrap();
    let waiter = l.clone();
    let second = tokio::spawn(async move { waiter.until_ready().await });
    tokio::task::yield_now().await; // the second has reserved 100ms
    let e = l.until_ready().await.unwrap_err();
    assert_eq!(e.retry_after_hint(), Some(Duration::from_millis(200)));
    second.await.unwrap().unwrap();
    advance(Duration::from_millis(100)).await;
    l.check().unwrap();
}

#[tokio::test(start_paused = true)]
async fn waiting_never_runs_past_the_tasks_deadline() {
    let l = waiting(1, Duration::from_secs(10));
    l.check().unwrap();
    let e = Deadline::after(Duration::from_millis(500))
        .scope(async { l.until_ready().await })
        .await
        .unwrap_err();
    assert_eq!(e.retry_after_hint(), Some(Duration::from_secs(1)));
    // With enough time left it waits the exact second.
    let start = Instant::now();
    Deadline::after(Duration::from_secs(2))
        .scope(async { l.until_ready().await })
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn cancelled_wait_keeps_its_cell_and_stops_counting_as_waiting() {
    let l = waiting(10, Duration::from_secs(1));
    l.check().unwrap();
    {
        let wait = l.until_ready();
        tokio::pin!(wait);
        assert!(futures::FutureExt::now_or_never(wait.as_mut()).is_none());
        assert_eq!(l.metrics().waiting, 1);
    }
    assert_eq!(l.metrics().waiting, 0);
    // v1: the cancelled waiter's cell (due at 100ms) is not refunded.
    advance(Duration::from_millis(100)).await;
    let e = l.check().unwrap_err();
    assert_eq!(e.retry_after_hint(), Some(Duration::from_millis(100)));
}

#[tokio::test(start_paused = true)]
async fn window_limiter_waits_until_the_next_window() {
    let l = RateLimiter::new(
        Config::builder()
            .fixed_window(2, Duration::from_secs(1))
            .max_wait(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    let start = Instant::now();
    for _ in 0..3 {
        l.until_ready().await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn shadow_mode_records_rejections_and_admits_everything() {
    let l = RateLimiter::new(
        Config::builder()
            .rate(1, Duration::from_secs(1))
            .shadow(true)
            .build()
            .unwrap(),
    );
    for _ in 0..5 {
        l.check().unwrap();
    }
    let m = l.metrics();
    assert_eq!((m.admitted, m.rejected, m.shadowed), (1, 4, 4));
}

#[test]
fn config_rejects_zero_rate_zero_burst_and_overflow() {
    let b = || Config::builder();
    let field =
        |r: Result<Config, ballast_ratelimit::ConfigError>| r.unwrap_err().field().to_owned();
    assert_eq!(field(b().build()), "limit");
    assert_eq!(field(b().rate(0, Duration::from_secs(1)).build()), "rate");
    assert_eq!(field(b().rate(1, Duration::ZERO).build()), "rate");
    assert_eq!(
        field(b().rate(1, Duration::from_secs(1)).burst(0).build()),
        "burst"
    );
    assert_eq!(
        field(
            b().rate(1, Duration::from_secs(3600))
                .burst(u32::MAX)
                .build()
        ),
        "burst"
    );
    assert_eq!(
        field(b().fixed_window(1, Duration::from_secs(1)).burst(2).build()),
        "burst"
    );
}

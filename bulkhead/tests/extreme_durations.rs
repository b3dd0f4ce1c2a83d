//! No value a builder accepts panics a call.
//!
//! The fixed bulkhead's one duration setting, `max_wait`, at one
//! nanosecond, at `Duration::MAX` ("wait forever") and at the largest a
//! config file can say (feature `serde`: a JSON number of `u64::MAX`
//! seconds, and the largest human duration strings), with calls driven
//! through it: admitted ones, and ones that queue and wait, under no
//! deadline and under extreme deadlines. The partitioned bulkhead and the
//! load shedder have no duration setting: their calls are driven under the
//! same extreme deadlines, the one duration that reaches them.

use ballast_bulkhead::partitioned::{PartitionedBulkhead, PartitionedConfig};
use ballast_bulkhead::shed::{LoadShedder, Priority, ShedConfig};
use ballast_bulkhead::{BoxError, Bulkhead, Config, Reason, Rejected};
use ballast_deadline::Deadline;
use std::time::Duration;
use tokio::sync::oneshot;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// The extremes a duration setting can take in code.
const EXTREMES: [Duration; 4] = [
    Duration::from_nanos(1),
    Duration::MAX,
    Duration::from_secs(u64::MAX),
    Duration::from_nanos(u64::MAX),
];

/// The deadlines calls are driven under: none, and the extremes.
fn deadlines() -> [Option<Duration>; 3] {
    [None, Some(Duration::from_nanos(1)), Some(Duration::MAX)]
}

/// Lets spawned tasks run until they block.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// Runs `fut` under a deadline `d` from now, or none.
async fn under<F: std::future::Future>(d: Option<Duration>, fut: F) -> F::Output {
    match d {
        Some(d) => Deadline::after(d).scope(fut).await,
        None => fut.await,
    }
}

/// Drives calls through a fixed bulkhead of one permit built from
/// `config`: admitted at once (helper and layer), then a call that queues
/// behind a held permit and waits, until its wait runs out or the permit
/// frees.
async fn drive_fixed(config: Config) {
    let max_wait = config.max_wait();
    assert_eq!(config.max_concurrent_calls(), 1);
    let b = Bulkhead::new(config);
    for deadline in deadlines() {
        assert_eq!(under(deadline, b.call(|| async { 1 })).await, Ok(1));
        let mut svc = ServiceBuilder::new()
            .layer(b.layer())
            .service(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
        let answer = under(deadline, async { svc.ready().await?.call(2).await }).await;
        assert_eq!(answer.unwrap(), 2);

        // Hold the permit, queue a call behind it.
        let (release, gate) = oneshot::channel::<()>();
        let holder = tokio::spawn({
            let b = b.clone();
            async move { b.call(|| gate).await }
        });
        settle().await;
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { under(deadline, b.call(|| async { 3 })).await }
        });
        settle().await;
        // An hour later: a wait bounded by a nanosecond (setting or
        // deadline) has ended; an unbounded one still waits.
        tokio::time::advance(Duration::from_secs(3600)).await;
        settle().await;
        let bounded = max_wait <= Duration::from_secs(3600)
            || deadline.is_some_and(|d| d <= Duration::from_secs(3600));
        if bounded {
            let err = waiter.await.unwrap().unwrap_err();
            assert!(
                matches!(
                    err.reason(),
                    Reason::QueueTimeout | Reason::DeadlineExceeded
                ),
                "{err}"
            );
            let _ = release.send(());
            holder.await.unwrap().unwrap().unwrap();
        } else {
            assert!(!waiter.is_finished(), "still waiting after an hour");
            assert_eq!(b.snapshot().queued, 1);
            let _ = release.send(());
            holder.await.unwrap().unwrap().unwrap();
            assert_eq!(waiter.await.unwrap(), Ok(3), "handed the freed permit");
        }
        let snap = b.snapshot();
        assert_eq!((snap.in_flight, snap.queued), (0, 0));
    }
}

fn fixed(max_wait: Duration) -> Config {
    Config::builder()
        .max_concurrent_calls(1)
        .max_wait(max_wait)
        .build()
        .expect("a builder accepts every duration")
}

#[tokio::test(start_paused = true)]
async fn fixed_bulkhead_max_wait_at_the_extremes_never_panics() {
    for d in EXTREMES {
        drive_fixed(fixed(d)).await;
        drive_fixed(
            Config::builder()
                .max_concurrent_calls(1)
                .max_wait(d)
                .max_queue_len(1)
                .build()
                .expect("valid"),
        )
        .await;
    }
    // A queue without max_wait waits as long as the deadline allows.
    drive_fixed(
        Config::builder()
            .max_concurrent_calls(1)
            .max_queue_len(1)
            .build()
            .expect("valid"),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn partitioned_bulkhead_under_extreme_deadlines_never_panics() {
    let b = PartitionedBulkhead::new(
        PartitionedConfig::builder()
            .max_concurrent_calls(1)
            .partition("a", 1)
            .build()
            .unwrap(),
    );
    let a = b.partition("a");
    for deadline in deadlines() {
        assert_eq!(under(deadline, b.call(a, || async { 1 })).await.unwrap(), 1);
        let mut svc = ServiceBuilder::new()
            .layer(b.layer(move |_: &u32| a))
            .service(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
        let answer = under(deadline, async { svc.ready().await?.call(2).await }).await;
        assert_eq!(answer.unwrap(), 2);
        // Full: refused at once, whatever the deadline.
        let mut held = Box::pin(b.call(a, std::future::pending::<()>));
        assert!(futures::poll!(held.as_mut()).is_pending());
        let err = under(deadline, b.call(a, || async {})).await.unwrap_err();
        assert_eq!(err.rejected().reason(), Reason::BulkheadFull);
        drop(held);
        assert_eq!(b.snapshot().in_flight, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn load_shedder_under_extreme_deadlines_never_panics() {
    let s = LoadShedder::new(ShedConfig::builder().max_in_flight(1).build().unwrap());
    for deadline in deadlines() {
        let answer = under(deadline, s.call(Priority::Critical, || async { 1 })).await;
        assert_eq!(answer, Ok(1));
        let mut svc = ServiceBuilder::new()
            .layer(s.layer(|_: &u32| Priority::Critical))
            .service(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
        let answer = under(deadline, async { svc.ready().await?.call(2).await }).await;
        assert_eq!(answer.unwrap(), 2);
        let mut held = Box::pin(s.call(Priority::Critical, std::future::pending::<()>));
        assert!(futures::poll!(held.as_mut()).is_pending());
        let err: Rejected = under(deadline, s.call(Priority::Critical, || async {}))
            .await
            .unwrap_err();
        assert!(!err.is_permanent(), "{err}");
        drop(held);
        assert_eq!(s.snapshot().in_flight, 0);
    }
}

#[cfg(feature = "serde")]
mod from_files {
    use super::*;

    /// The largest `max_wait` values a config file can say: a JSON number
    /// of seconds at `u64::MAX`, and the largest human strings (each part
    /// of a string is at most `u64::MAX` nanoseconds).
    const LARGEST: [&str; 5] = [
        "18446744073709551615",
        r#""18446744073709551615ns""#,
        r#""213503d""#,
        r#""5124095h""#,
        r#""1ns""#,
    ];

    #[tokio::test(start_paused = true)]
    async fn fixed_bulkhead_read_from_a_file_at_the_extremes_never_panics() {
        for max_wait in LARGEST {
            for queue in ["", r#", "max_queue_len": 1"#] {
                let json =
                    format!(r#"{{ "max_concurrent_calls": 1, "max_wait": {max_wait}{queue} }}"#);
                let config: Config = serde_json::from_str(&json).expect(&json);
                // Written back, it reads back the same.
                let written = serde_json::to_string(&config).unwrap();
                let back: Config = serde_json::from_str(&written).expect(&written);
                assert_eq!(back, config, "{json} -> {written}");
                drive_fixed(config).await;
            }
        }
        for extreme in EXTREMES {
            let config = fixed(extreme);
            let written = serde_json::to_string(&config).unwrap();
            let back: Config = serde_json::from_str(&written).expect(&written);
            assert_eq!(back, config, "{written}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn partitioned_and_shed_configs_read_from_files_drive_calls() {
        let p: PartitionedConfig = serde_json::from_str(
            r#"{ "max_concurrent_calls": 4294967295, "partitions": [{ "name": "a", "share": 4294967295 }], "kept_free": 4294967295 }"#,
        )
        .unwrap();
        let b = PartitionedBulkhead::new(p);
        let a = b.partition("a");
        for deadline in deadlines() {
            assert_eq!(under(deadline, b.call(a, || async { 1 })).await.unwrap(), 1);
        }
        let s: ShedConfig = serde_json::from_str(r#"{ "max_in_flight": 4294967295 }"#).unwrap();
        let s = LoadShedder::new(s);
        for deadline in deadlines() {
            let answer = under(deadline, s.call(Priority::Low, || async { 1 })).await;
            assert_eq!(answer, Ok(1));
        }
    }
}

//! The Redis limiter's tracing events when Redis goes away and comes
//! back (real Redis behind a loopback proxy, as in `redis_fallback.rs`).
//!
//! A test binary of its own: tracing caches per call site whether anyone
//! listens, and a test on another thread of the same binary hitting the
//! call site first without a subscriber could hide the event from this one.

#[macro_use]
#[path = "common/redis.rs"]
mod support;

use ballast_circuit_breaker::{Config as BreakerConfig, SlidingWindow};
use ballast_ratelimit::redis::{DecidedBy, Fallback, RedisConfig};
use std::time::Duration;
use support::{Proxy, eventually, limiter, unique_prefix};

/// Collects the messages of the events at WARN and INFO: a minimal
/// subscriber, so the test needs no extra crate.
#[derive(Default, Clone)]
struct Messages(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for Messages {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        *m.level() <= tracing::Level::INFO
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    *self.0 = format!("{v:?}");
                }
            }
        }
        let mut message = String::new();
        e.record(&mut Message(&mut message));
        self.0.lock().unwrap().push(message);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn entering_and_leaving_the_fallback_are_traced_once_each() {
    let url = redis_or_skip!("entering_and_leaving_the_fallback_are_traced_once_each");
    let messages = Messages::default();
    let _guard = tracing::subscriber::set_default(messages.clone());
    let proxy = Proxy::start(&url).await;
    let breaker = BreakerConfig::builder()
        .sliding_window(SlidingWindow::count(4))
        .minimum_calls(2)
        .wait_in_open(Duration::from_millis(300))
        .half_open_permits(1)
        .build()
        .unwrap();
    let config = RedisConfig::builder()
        .rate(100, Duration::from_secs(3600))
        .key_prefix(unique_prefix("traced"))
        .timeout(Duration::from_millis(500))
        .fallback(Fallback::FailOpen)
        .breaker(breaker);
    let l = limiter(proxy.url(), config);
    l.check("k").await.unwrap();
    proxy.cut();
    for _ in 0..10 {
        l.check("k").await.unwrap();
    }
    proxy.restore();
    let back = eventually(
        Duration::from_secs(5),
        async || matches!(l.check("k").await, Ok(a) if a.decided_by == DecidedBy::Redis),
    )
    .await;
    assert!(back, "Redis decides again: {:?}", l.metrics());
    for _ in 0..5 {
        l.check("k").await.unwrap();
    }
    let seen = messages.0.lock().unwrap().clone();
    let count = |text: &str| seen.iter().filter(|m| m.contains(text)).count();
    assert_eq!(count("falling back"), 1, "{seen:?}");
    assert_eq!(count("redis is back"), 1, "{seen:?}");
}

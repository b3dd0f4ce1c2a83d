//! Keyed limiters: separate limits per key, eviction bounds memory.

use ballast_ratelimit::{Config, KeyedRateLimiter};
use std::time::Duration;
use tokio::time::advance;

fn keyed(per_sec: u32) -> KeyedRateLimiter<u64> {
    KeyedRateLimiter::with_shards(
        Config::builder()
            .rate(per_sec, Duration::from_secs(1))
            .build()
            .unwrap(),
        4,
    )
}

#[tokio::test(start_paused = true)]
async fn each_key_has_its_own_limit() {
    let l = keyed(2);
    for key in 0..10 {
        l.check(&key).unwrap();
        l.check(&key).unwrap();
        assert!(l.check(&key).is_err());
    }
    assert_eq!(l.len(), 10);
    assert_eq!(l.metrics().admitted, 20);
}

#[tokio::test(start_paused = true)]
async fn a_limiter_hashing_with_siphash_keeps_each_keys_limit_and_evicts() {
    let config = Config::builder()
        .rate(2, Duration::from_secs(1))
        .build()
        .unwrap();
    let l = KeyedRateLimiter::<u64, _>::with_shards_and_hasher(
        config,
        4,
        std::hash::RandomState::new(),
    );
    for key in 0..1000 {
        l.check(&key).unwrap();
        l.check(&key).unwrap();
        assert!(l.check(&key).is_err());
    }
    assert_eq!(l.len(), 1000);
    advance(Duration::from_secs(1)).await;
    assert_eq!(l.evict_idle(), 1000);
    assert!(l.is_empty());
}

#[tokio::test(start_paused = true)]
async fn idle_keys_are_evicted_so_memory_follows_active_keys() {
    let l = keyed(10); // burst window 1s
    for round in 0..20u64 {
        // 1,000 new keys a round, each idle 100ms after its check and
        // stale (idle for a whole window) 1.1s after it: at a sweep, the
        // keys of this round and the last are live, older ones are gone.
        for key in round * 1000..(round + 1) * 1000 {
            l.check(&key).unwrap();
        }
        advance(Duration::from_secs(1)).await;
        assert!(
            l.len() <= 2 * 2000 + 4 * 64,
            "round {round}: {} keys",
            l.len()
        );
    }
    advance(Duration::from_secs(1)).await;
    let before = l.len();
    assert_eq!(l.evict_idle(), before);
    assert!(l.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_busy_key_is_not_evicted() {
    let l = keyed(1);
    l.check(&7).unwrap();
    advance(Duration::from_millis(999)).await;
    assert_eq!(l.evict_idle(), 0);
    assert!(l.check(&7).is_err(), "the key kept its state");
    advance(Duration::from_millis(1)).await;
    assert_eq!(l.evict_idle(), 1);
    l.check(&7).unwrap();
}

#[tokio::test(start_paused = true)]
async fn keyed_wait_mode_waits_per_key() {
    let l: KeyedRateLimiter<&str> = KeyedRateLimiter::new(
        Config::builder()
            .rate(10, Duration::from_secs(1))
            .burst(1)
            .max_wait(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    let start = tokio::time::Instant::now();
    l.until_ready(&"a").await.unwrap();
    l.until_ready(&"b").await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    l.until_ready(&"a").await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert!(l.check_n(&"b", 2).unwrap_err().is_permanent());
}

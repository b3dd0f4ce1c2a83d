//! Redis-backed checks per second against the real Redis at
//! `BALLAST_REDIS_URL`: one client checking sequentially, one connection
//! shared by 4 concurrent tasks, and 4 clients on their own connections.
//!
//! `cargo bench -p ballast-ratelimit --features redis --bench redis_throughput`
//! measures each row for ~2 s (0.2 s when run as a test, without
//! `--bench`). Without `BALLAST_REDIS_URL` it prints why it skipped.
//! Every check is a full round trip (`EVALSHA` of the GCRA script) over
//! loopback; the limit is high enough that every check is admitted, so
//! the rows measure the round trip and the script, not refusals.

use ballast_ratelimit::redis::{DecidedBy, Fallback, RedisConfig, RedisRateLimiter};
use std::time::{Duration, Instant};

fn main() {
    let Ok(url) = std::env::var("BALLAST_REDIS_URL") else {
        eprintln!(
            "redis_throughput: skipped: BALLAST_REDIS_URL is unset (run `eval \"$(scripts/services)\"`)"
        );
        return;
    };
    let benching = std::env::args().any(|a| a == "--bench");
    let span = if benching {
        Duration::from_secs(2)
    } else {
        Duration::from_millis(200)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let run = std::process::id();
        let config = |row: &str| {
            RedisConfig::builder()
                .name("bench")
                // One cell a microsecond with a huge burst: every check passes.
                .rate(1_000_000, Duration::from_secs(1))
                .burst(1_000_000_000)
                .key_prefix(format!("ballast-bench:{run}:{row}:"))
                .timeout(Duration::from_secs(1))
                .fallback(Fallback::FailClosed)
                .build()
                .unwrap()
        };
        let connect = |row: &str| RedisRateLimiter::connect(url.as_str(), config(row)).unwrap();

        let one = connect("seq");
        row("1 client, sequential", span, vec![one.clone()], 1).await;
        floor(&url, span).await;
        row("1 client, sequential (again)", span, vec![one], 1).await;
        let shared = connect("shared");
        row("1 connection, 4 concurrent tasks", span, vec![shared], 4).await;
        let clients: Vec<_> = (0..4).map(|_| connect("clients")).collect();
        row("4 clients, own connections", span, clients, 1).await;
        let clients: Vec<_> = (0..4).map(|_| connect("clients4")).collect();
        row("4 clients x 4 tasks", span, clients, 4).await;
    });
}

/// The round-trip floor: `PING` back to back on one connection, to read
/// the script's own cost off the sequential row of the same run.
async fn floor(url: &str, span: Duration) {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let start = Instant::now();
    let mut pings = 0u64;
    while start.elapsed() < span {
        let _: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
        pings += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "redis_throughput/{:<34} {:>9.0} pings/s   ({pings} in {secs:.2}s, {:.1} µs per round trip)",
        "PING floor, 1 connection, sequential",
        pings as f64 / secs,
        1e6 * secs / pings as f64
    );
}

/// Runs `tasks` tasks per limiter, each checking its own key back to back
/// for `span`, and prints the checks per second over all of them.
async fn row(name: &str, span: Duration, limiters: Vec<RedisRateLimiter>, tasks: usize) {
    // Warm up: connect and load the script.
    for l in &limiters {
        l.check("warm-up").await.unwrap();
    }
    let start = Instant::now();
    let mut handles = Vec::new();
    for (i, l) in limiters.iter().enumerate() {
        for t in 0..tasks {
            let l = l.clone();
            let key = format!("k{i}-{t}");
            handles.push(tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < span {
                    let a = l.check(&key).await.expect("the bench limit admits all");
                    assert_eq!(a.decided_by, DecidedBy::Redis);
                    n += 1;
                }
                n
            }));
        }
    }
    let mut checks = 0;
    for h in handles {
        checks += h.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = checks as f64 / secs;
    let concurrent = limiters.len() * tasks;
    println!(
        "redis_throughput/{name:<34} {rate:>9.0} checks/s  ({checks} in {secs:.2}s, {:.1} µs per check per task)",
        1e6 * secs * concurrent as f64 / checks as f64
    );
    for l in &limiters {
        assert_eq!(l.metrics().fallback_decisions, 0);
    }
}

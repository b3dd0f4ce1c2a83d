//! Shared by the relay's integration tests: a recording publisher, database
//! setup, and the service-variable rule (skip with a printed reason, or
//! fail under BALLAST_REQUIRE_SERVICES=1).
#![allow(dead_code)]

use ballast_outbox::{Envelope, PublishError, Publisher};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Records what it is given; can be told to refuse a key's messages or to
/// be unavailable.
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<Envelope>>>,
    pub refuse_key: Arc<Mutex<Option<String>>>,
    pub down: Arc<std::sync::atomic::AtomicBool>,
    pub calls: Arc<AtomicU32>,
}

impl Publisher for Recorder {
    async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        tokio::task::yield_now().await;
        if self.down.load(Ordering::Relaxed) {
            return Err(PublishError::unavailable("broker down (test)"));
        }
        if self.refuse_key.lock().as_deref() == Some(envelope.key.as_str()) {
            return Err(PublishError::refused("refused (test)"));
        }
        self.seen.lock().push(envelope.clone());
        Ok(())
    }
}

impl Recorder {
    pub fn count(&self) -> usize {
        self.seen.lock().len()
    }

    /// Waits until `n` distinct ids arrived, or panics after `limit`.
    pub async fn wait_for(&self, n: usize, limit: Duration) {
        let start = std::time::Instant::now();
        loop {
            let distinct = {
                let seen = self.seen.lock();
                seen.iter()
                    .map(|e| e.id)
                    .collect::<std::collections::HashSet<_>>()
                    .len()
            };
            if distinct >= n {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "only {distinct} of {n} messages arrived within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Asserts each key's sequence numbers arrive in order once duplicates
    /// (same id) are dropped, with no gap; returns how many duplicates.
    pub fn assert_key_order(&self) -> usize {
        check_key_order(&self.seen.lock())
    }
}

/// Per key, first arrivals of each id must have seq 1, 2, 3, ... in order.
pub fn check_key_order(seen: &[Envelope]) -> usize {
    let mut first: std::collections::HashSet<uuid::Uuid> = Default::default();
    let mut next: HashMap<&str, i64> = HashMap::new();
    let mut duplicates = 0;
    for e in seen {
        if !first.insert(e.id) {
            duplicates += 1;
            continue;
        }
        let want = next.entry(e.key.as_str()).or_insert(1);
        assert_eq!(
            e.seq, *want,
            "key {} got seq {} where {} was due",
            e.key, e.seq, want
        );
        *want += 1;
    }
    duplicates
}

/// The service URL in `var`, or `None` after printing why `test` skips;
/// panics when `BALLAST_REQUIRE_SERVICES=1` (the rule every ballast test
/// keeps, in `ballast-test-support`).
#[allow(unused_imports)] // each test binary uses a part
pub use ballast_test_support::service;

/// A SQLite pool on a new file in `dir` (WAL, as the crate advises).
pub async fn sqlite(dir: &tempfile::TempDir) -> sqlx::SqlitePool {
    ballast_outbox::sqlite::connect(&dir.path().join("outbox.db"))
        .await
        .expect("sqlite opens")
}

/// A PostgreSQL pool and a fresh table name for one test.
pub async fn postgres(url: &str, max: u32) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .connect(url)
        .await
        .expect("postgres connects")
}

pub fn unique_table(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
        .chars()
        .take(40)
        .collect()
}

/// Drops every table the outbox made for `table` (tests share one
/// database; each cleans up after itself when it passes).
pub async fn drop_outbox_tables(pool: &sqlx::PgPool, table: &str) {
    let suffixes = [
        "",
        "_keys",
        "_leases",
        "_relays",
        "_held",
        "_dead",
        "_published",
        "_decisions",
        "_meta",
        "_version",
    ];
    let list: Vec<String> = suffixes.iter().map(|s| format!("{table}{s}")).collect();
    sqlx::query(&format!("DROP TABLE IF EXISTS {}", list.join(", ")))
        .execute(pool)
        .await
        .expect("drop the test's tables");
}

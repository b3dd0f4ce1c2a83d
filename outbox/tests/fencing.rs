//! A relay frozen past its lease (its whole runtime blocked, as SIGSTOP
//! would) commits nothing after a successor took its partition over, and its
//! late publish is a duplicate that does not reorder the key.

mod support;

use ballast_outbox::{
    Backend, Config, Envelope, Message, Outbox, PublishError, Publisher, Relay, RelayConfig,
    RelayStats, Retention,
};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const TTL: Duration = Duration::from_millis(600);
const FREEZE: Duration = Duration::from_secs(2);

/// The first publish blocks the relay's whole (single-threaded) runtime for
/// FREEZE, then reaches the broker late; the rest pass straight through.
#[derive(Clone)]
struct Freezer {
    seen: Arc<Mutex<Vec<(String, Envelope)>>>,
    froze: Arc<AtomicBool>,
    name: &'static str,
}

impl Publisher for Freezer {
    async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        if self.name == "A" && !self.froze.swap(true, Ordering::SeqCst) {
            std::thread::sleep(FREEZE);
        }
        self.seen
            .lock()
            .push((self.name.to_string(), envelope.clone()));
        Ok(())
    }
}

fn config(id: &str) -> RelayConfig {
    RelayConfig::builder()
        .relay_id(id)
        .lease_ttl(TTL)
        .poll_interval(Duration::from_millis(20))
        .retention(Retention::Keep(Duration::from_secs(3600)))
        .build()
        .unwrap()
}

/// Runs relay A on a runtime of its own in a thread, with its own pool.
fn start_frozen_relay<DB, F>(open: F, publisher: Freezer) -> std::thread::JoinHandle<RelayStats>
where
    DB: Backend,
    F: FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = Outbox<DB>> + Send>>
        + Send
        + 'static,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let outbox = open().await;
            let relay = Relay::start(&outbox, publisher, config("A"));
            // Frozen, then awake long enough to find out it was fenced.
            tokio::time::sleep(FREEZE + Duration::from_secs(2)).await;
            let stats = relay.stats();
            relay.shutdown().await;
            stats
        })
    })
}

async fn run_scenario<DB: Backend>(
    outbox: Outbox<DB>,
    a: std::thread::JoinHandle<RelayStats>,
    publisher: Freezer,
) -> Vec<(String, Envelope)>
where
{
    let start = std::time::Instant::now();
    while !publisher.froze.load(Ordering::SeqCst) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "relay A never published"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let b = Relay::start(
        &outbox,
        Freezer {
            name: "B",
            ..publisher.clone()
        },
        config("B"),
    );
    let stats_a = tokio::task::spawn_blocking(move || a.join().unwrap())
        .await
        .unwrap();
    let stats_b = b.stats();
    b.shutdown().await;
    assert!(
        stats_a.leases_lost >= 1,
        "A found out it lost the lease: {stats_a:?}"
    );
    assert_eq!(stats_a.published, 0, "A recorded nothing: {stats_a:?}");
    assert_eq!(
        stats_b.published, 3,
        "B published the whole key: {stats_b:?}"
    );
    let seen = publisher.seen.lock().clone();
    let envelopes: Vec<Envelope> = seen.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(
        support::check_key_order(&envelopes),
        1,
        "A's late publish is one duplicate"
    );
    assert_eq!(
        seen.last().map(|(who, e)| (who.as_str(), e.seq)),
        Some(("A", 1)),
        "it arrived last"
    );
    seen
}

async fn enqueue_three<DB: Backend>(outbox: &Outbox<DB>) {
    let mut tx = outbox.pool().begin().await.unwrap();
    for i in 1..=3 {
        outbox
            .enqueue(&mut tx, &Message::new("t", "k", format!("{i}")))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

fn freezer() -> Freezer {
    Freezer {
        seen: Arc::default(),
        froze: Arc::default(),
        name: "A",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_frozen_relay_commits_nothing_after_its_successor_took_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let cfg = Config::builder().partitions(1).build().unwrap();
    let outbox = Outbox::new(
        ballast_outbox::sqlite::connect(&path).await.unwrap(),
        cfg.clone(),
    )
    .await
    .unwrap();
    enqueue_three(&outbox).await;
    let publisher = freezer();
    let a = start_frozen_relay(
        move || {
            Box::pin(async move {
                let pool = ballast_outbox::sqlite::connect(&path).await.unwrap();
                Outbox::new(pool, cfg).await.unwrap()
            })
        },
        publisher.clone(),
    );
    run_scenario(outbox.clone(), a, publisher).await;
    let by: Vec<(String, i64)> =
        sqlx::query_as("SELECT relay, epoch FROM ballast_outbox_published ORDER BY n")
            .fetch_all(outbox.pool())
            .await
            .unwrap();
    assert_eq!(by.len(), 3);
    assert!(by.iter().all(|(relay, _)| relay == "B"), "{by:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_frozen_relay_commits_nothing_after_its_successor_took_over() {
    let Some(url) = support::service("BALLAST_PG_URL", "postgres_frozen_relay") else {
        return;
    };
    let table = support::unique_table("fence");
    let cfg = Config::builder()
        .table(&table)
        .partitions(1)
        .build()
        .unwrap();
    let outbox = Outbox::new(support::postgres(&url, 5).await, cfg.clone())
        .await
        .unwrap();
    enqueue_three(&outbox).await;
    let publisher = freezer();
    let a = start_frozen_relay(
        move || {
            Box::pin(async move {
                Outbox::new(support::postgres(&url, 5).await, cfg)
                    .await
                    .unwrap()
            })
        },
        publisher.clone(),
    );
    run_scenario(outbox.clone(), a, publisher).await;
    let by: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT relay, epoch FROM {table}_published ORDER BY n"
    ))
    .fetch_all(outbox.pool())
    .await
    .unwrap();
    assert_eq!(by.len(), 3);
    assert!(by.iter().all(|(relay, _)| relay == "B"), "{by:?}");
    support::drop_outbox_tables(outbox.pool(), &table).await;
}

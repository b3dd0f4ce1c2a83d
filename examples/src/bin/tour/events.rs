//! The events' way out: the outbox relay publishing to an in-process
//! channel, and the consumer behind it, which records each event it
//! handles in its own table, once per message id thanks to its inbox.

use ballast_outbox::inbox::{Inbox, InboxConfig, Processed};
use ballast_outbox::{ChannelPublisher, Outbox, Relay, RelayConfig, RelayHandle, Retention};
use sqlx::SqlitePool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The outbox's table; published rows are kept in `events_published`.
pub const OUTBOX_TABLE: &str = "events";
/// The consumer's inbox table.
pub const INBOX_TABLE: &str = "shipping_inbox";
/// The consumer's record of what it handled: one row per handling, with
/// no unique index, so a message handled twice would show as two rows.
pub const HANDLED_TABLE: &str = "handled_events";

/// What the consumer counted.
#[derive(Default)]
pub struct Consumed {
    /// Events handled (new ids).
    pub handled: AtomicU64,
    /// Deliveries of an id already handled, absorbed by the inbox.
    pub duplicates: AtomicU64,
}

/// Opens the outbox on `pool`.
pub async fn outbox(pool: &SqlitePool) -> Result<Outbox<sqlx::Sqlite>, ballast_outbox::Error> {
    Outbox::new(
        pool.clone(),
        ballast_outbox::Config::builder()
            .table(OUTBOX_TABLE)
            .build()?,
    )
    .await
}

/// Starts a relay named `id` publishing `outbox` to `publisher`.
pub fn relay(outbox: &Outbox<sqlx::Sqlite>, publisher: &ChannelPublisher, id: &str) -> RelayHandle {
    let config = RelayConfig::builder()
        .relay_id(id)
        // A successor takes a crashed relay's partitions within a second.
        .lease_ttl(Duration::from_secs(1))
        .poll_interval(Duration::from_millis(50))
        // Keep what was published, for the report's checks.
        .retention(Retention::Keep(Duration::from_secs(24 * 3600)))
        .build()
        .expect("a valid relay config");
    Relay::start(outbox, publisher.clone(), config)
}

/// Starts the consumer reading `received`; returns what it counts.
pub async fn consumer(
    pool: &SqlitePool,
    mut received: ballast_outbox::publish::Receiver,
) -> Result<Arc<Consumed>, Box<dyn std::error::Error>> {
    sqlx::query(&format!(
        "CREATE TABLE {HANDLED_TABLE} (id TEXT NOT NULL, topic TEXT NOT NULL, saga TEXT NOT NULL)"
    ))
    .execute(pool)
    .await?;
    let inbox = Inbox::new(
        pool.clone(),
        InboxConfig::builder().table(INBOX_TABLE).build()?,
    )
    .await?;
    let consumed = Arc::new(Consumed::default());
    let (pool, counts) = (pool.clone(), consumed.clone());
    tokio::spawn(async move {
        let mut batch = Vec::new();
        // Whatever has arrived, up to 128 messages, in one transaction:
        // one commit for many events.
        while received.recv_many(&mut batch, 128).await > 0 {
            // A failed transaction (the database busy) is tried again:
            // the relay already counts these messages as delivered.
            loop {
                match handle(&pool, &inbox, &batch).await {
                    Ok((done, duplicates)) => {
                        // Relaxed: statistics.
                        counts.handled.fetch_add(done, Ordering::Relaxed);
                        counts.duplicates.fetch_add(duplicates, Ordering::Relaxed);
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            batch.clear();
        }
    });
    Ok(consumed)
}

/// Handles `batch` in one transaction, each message through the inbox;
/// returns (handled, duplicates) once committed.
async fn handle(
    pool: &SqlitePool,
    inbox: &Inbox<sqlx::Sqlite>,
    batch: &[ballast_outbox::Envelope],
) -> Result<(u64, u64), Box<dyn std::error::Error + Send + Sync>> {
    let mut tx = pool.begin().await?;
    let (mut done, mut duplicates) = (0, 0);
    for envelope in batch {
        let id = envelope.id.to_string();
        let (topic, saga, row) = (envelope.topic.clone(), envelope.key.clone(), id.clone());
        let outcome = inbox
            .process(&mut tx, &id, |tx| async move {
                sqlx::query(&format!(
                    "INSERT INTO {HANDLED_TABLE} (id, topic, saga) VALUES ($1, $2, $3)"
                ))
                .bind(row)
                .bind(topic)
                .bind(saga)
                .execute(&mut **tx)
                .await
            })
            .await
            .map_err(|e| e.to_string())?;
        match outcome {
            Processed::Done(_) => done += 1,
            Processed::Duplicate => duplicates += 1,
        }
    }
    tx.commit().await?;
    Ok((done, duplicates))
}

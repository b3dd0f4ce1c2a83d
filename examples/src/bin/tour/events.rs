//! The events' way out: the outbox relay publishing to an in-process
//! channel (or to NATS JetStream, see [`crate::jetstream`]), and the
//! consumer behind it, which records each event it handles in its own
//! table, once per message id thanks to its inbox.

use crate::jetstream::Nats;
use crate::store::Store;
use ballast::prelude::BoxError;
use ballast_outbox::inbox::{Inbox, InboxConfig, Processed};
use ballast_outbox::{
    Backend, ChannelPublisher, Outbox, Relay, RelayConfig, RelayHandle, Retention,
};
use sqlx::SqlitePool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

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

/// Where the relay publishes: the in-process channel (with SQLite) or the
/// run's JetStream stream (with PostgreSQL).
#[derive(Clone)]
pub enum Broker {
    Channel(ChannelPublisher),
    JetStream(Box<Nats>),
}

/// Starts a relay named `id` publishing the outbox in `store` to `broker`.
pub fn relay(store: &Store, broker: &Broker, id: &str) -> RelayHandle {
    let config = RelayConfig::builder()
        .relay_id(id)
        // A successor takes a crashed relay's partitions within a second.
        .lease_ttl(Duration::from_secs(1))
        // SQLite polls its partitions; PostgreSQL wakes them on NOTIFY, so
        // a poll there is only a fallback (and each one is a query).
        .poll_interval(Duration::from_millis(match store {
            Store::Sqlite { .. } => 50,
            Store::Pg { .. } => 500,
        }))
        // Keep what was published, for the report's checks.
        .retention(Retention::Keep(Duration::from_secs(24 * 3600)))
        .build()
        .expect("a valid relay config");
    match store {
        Store::Sqlite { outbox, .. } => start(outbox, broker, config),
        Store::Pg { outbox, .. } => start(outbox, broker, config),
    }
}

fn start<DB: Backend>(outbox: &Outbox<DB>, broker: &Broker, config: RelayConfig) -> RelayHandle {
    match broker {
        Broker::Channel(p) => Relay::start(outbox, p.clone(), config),
        Broker::JetStream(n) => Relay::start(outbox, n.publisher(), config),
    }
}

/// The running consumer; [`stop`](Consumer::stop) ends the JetStream one
/// (the channel's ends with the process).
pub struct Consumer(Option<(watch::Sender<bool>, JoinSet<()>)>);

impl Consumer {
    /// Stops the consumer between messages and waits for it: its
    /// counts are final after this.
    pub async fn stop(self) {
        if let Some((stop, mut workers)) = self.0 {
            let _ = stop.send(true);
            while workers.join_next().await.is_some() {}
        }
    }
}

/// Creates the consumer's table and inbox in `store` and starts the
/// consumer: reading `received` (the channel) with SQLite, the stream with
/// PostgreSQL and NATS. Returns what it counts.
pub async fn consumer(
    store: &Store,
    broker: &Broker,
    received: Option<ballast_outbox::publish::Receiver>,
) -> Result<(Arc<Consumed>, Consumer), BoxError> {
    store
        .execute(&format!(
            "CREATE TABLE {HANDLED_TABLE} (id TEXT NOT NULL, topic TEXT NOT NULL, saga TEXT NOT NULL)"
        ))
        .await?;
    let config = InboxConfig::builder().table(INBOX_TABLE);
    let consumed = Arc::new(Consumed::default());
    match (store, broker, received) {
        (Store::Sqlite { pool, .. }, Broker::Channel(_), Some(received)) => {
            let inbox = Inbox::new(pool.clone(), config.build()?).await?;
            channel_consumer(pool.clone(), inbox, received, consumed.clone());
            Ok((consumed, Consumer(None)))
        }
        (Store::Pg { pool, schema, .. }, Broker::JetStream(nats), _) => {
            let inbox = Inbox::new(pool.clone(), config.schema(schema).build()?).await?;
            let running = nats.consume(pool, inbox, consumed.clone()).await?;
            Ok((consumed, Consumer(Some(running))))
        }
        _ => Err("the tour pairs SQLite with the in-process channel, PostgreSQL with NATS".into()),
    }
}

/// The channel's consumer: a task handling what arrives, in batches.
fn channel_consumer(
    pool: SqlitePool,
    inbox: Inbox<sqlx::Sqlite>,
    mut received: ballast_outbox::publish::Receiver,
    counts: Arc<Consumed>,
) {
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
}

/// Handles `batch` in one transaction, each message through the inbox;
/// returns (handled, duplicates) once committed.
async fn handle(
    pool: &SqlitePool,
    inbox: &Inbox<sqlx::Sqlite>,
    batch: &[ballast_outbox::Envelope],
) -> Result<(u64, u64), Box<dyn std::error::Error + Send + Sync>> {
    let mut tx = ballast_outbox::begin(pool).await?;
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

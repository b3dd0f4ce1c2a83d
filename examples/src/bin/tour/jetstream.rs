//! The events' way out on NATS JetStream (`--nats`): a stream made for the
//! run, the relay publishing into it with the outbox's JetStream publisher
//! (`Nats-Msg-Id` set, so the stream drops a copy published again), and the
//! consumer reading it with the outbox's `InboxConsumer`, which acks each
//! message after the inbox's transaction committed. The stream goes at the
//! end of the run.

use crate::events::{Consumed, HANDLED_TABLE};
use async_nats::jetstream::{self, consumer::PullConsumer, stream::StorageType};
use ballast::prelude::BoxError;
use ballast_outbox::consumer::InboxConsumer;
use ballast_outbox::inbox::Inbox;
use ballast_outbox::publish::JetStreamPublisher;
use ballast_outbox::{Envelope, PublishError, Publisher, header};
use sqlx::{PgPool, Postgres};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Consumers reading the stream side by side, each a transaction per
/// message.
const WORKERS: usize = 2;

/// The run's stream on a NATS server, and the publisher into it.
#[derive(Clone)]
pub struct Nats {
    js: jetstream::Context,
    /// The stream's name, unique to the run.
    pub stream: String,
    /// Subjects are `<prefix><topic>`.
    prefix: String,
    /// Publishes the stream acknowledged, new copies and duplicates alike.
    acked: Arc<AtomicU64>,
}

impl Nats {
    /// Connects to `url` and creates the stream `TOUR_<suffix>` over the
    /// subjects `tour<suffix>.>`, in memory (nothing is left on disk).
    pub async fn start(url: &str, suffix: &str) -> Result<Nats, BoxError> {
        let js = jetstream::new(async_nats::connect(url).await?);
        let (stream, prefix) = (format!("TOUR_{suffix}"), format!("tour{suffix}."));
        js.create_stream(jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{prefix}>")],
            storage: StorageType::Memory,
            // Longer than the tour: every copy published again is dropped.
            duplicate_window: Duration::from_secs(600),
            ..Default::default()
        })
        .await?;
        Ok(Nats {
            js,
            stream,
            prefix,
            acked: Arc::default(),
        })
    }

    /// The relay's publisher: the outbox's JetStream publisher, counted.
    pub fn publisher(&self) -> Counted {
        Counted {
            inner: JetStreamPublisher::new(self.js.clone()).with_subject_prefix(&self.prefix),
            acked: self.acked.clone(),
        }
    }

    /// Copies the stream dropped as duplicates (publishes acknowledged
    /// minus messages stored), and the messages it stores.
    pub async fn deduplicated(&self) -> Result<(u64, u64), BoxError> {
        let stored = self
            .js
            .get_stream(&self.stream)
            .await?
            .info()
            .await?
            .state
            .messages;
        // Relaxed: the relays have stopped; their counts are all in.
        let acked = self.acked.load(Ordering::Relaxed);
        Ok((acked.saturating_sub(stored), stored))
    }

    /// Deletes the stream (and its consumer).
    pub async fn delete(&self) -> Result<(), BoxError> {
        self.js.delete_stream(&self.stream).await?;
        Ok(())
    }

    /// Starts the consumer: [`WORKERS`] tasks reading the durable pull
    /// consumer `shipping` through `inbox`, each message recorded in the
    /// consumer's table. Send `true` on the returned sender to stop them
    /// (between messages), then join the set.
    pub async fn consume(
        &self,
        pool: &PgPool,
        inbox: Inbox<Postgres>,
        counts: Arc<Consumed>,
    ) -> Result<(watch::Sender<bool>, JoinSet<()>), BoxError> {
        let pull: PullConsumer = self
            .js
            .get_stream(&self.stream)
            .await?
            .create_consumer(jetstream::consumer::pull::Config {
                durable_name: Some("shipping".into()),
                ..Default::default()
            })
            .await?;
        let (stop, stopped) = watch::channel(false);
        let mut workers = JoinSet::new();
        for _ in 0..WORKERS {
            let consumer = InboxConsumer::new(pull.clone(), pool.clone(), inbox.clone())
                .nak_delay(Duration::from_millis(200));
            let (counts, prefix, stopped) = (counts.clone(), self.prefix.clone(), stopped.clone());
            workers.spawn(async move {
                // Run again after a NATS or database failure: the messages
                // in hand were not acked and come back.
                loop {
                    let mut until = stopped.clone();
                    let stop = async move {
                        let _ = until.wait_for(|s| *s).await;
                    };
                    let run = consumer.run(
                        |tx, msg| {
                            let row = Handled::of(msg, &prefix);
                            let counts = counts.clone();
                            Box::pin(async move {
                                row.insert(tx).await?;
                                // Relaxed: statistics. Counted before the
                                // commit: the checks read the tables.
                                counts.handled.fetch_add(1, Ordering::Relaxed);
                                Ok::<_, sqlx::Error>(())
                            })
                        },
                        stop,
                    );
                    match run.await {
                        Ok(stats) => {
                            // Relaxed: statistics, read after the join.
                            counts
                                .duplicates
                                .fetch_add(stats.duplicates, Ordering::Relaxed);
                            return;
                        }
                        Err(e) => {
                            eprintln!("consumer: {e}; reading again");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            });
        }
        Ok((stop, workers))
    }
}

/// The consumer's record of one message: its id, topic and saga.
struct Handled {
    id: String,
    topic: String,
    saga: String,
}

impl Handled {
    fn of(msg: &jetstream::Message, prefix: &str) -> Handled {
        let get = |name: &str| {
            msg.headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        };
        let subject = msg.subject.as_str();
        Handled {
            id: get(header::ID),
            topic: subject.strip_prefix(prefix).unwrap_or(subject).to_owned(),
            saga: get(header::KEY),
        }
    }

    async fn insert(
        self,
        tx: &mut sqlx::Transaction<'static, Postgres>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "INSERT INTO {HANDLED_TABLE} (id, topic, saga) VALUES ($1, $2, $3)"
        ))
        .bind(self.id)
        .bind(self.topic)
        .bind(self.saga)
        .execute(&mut **tx)
        .await
        .map(drop)
    }
}

/// The JetStream publisher, counting the publishes the stream acknowledged.
#[derive(Clone)]
pub struct Counted {
    inner: JetStreamPublisher,
    acked: Arc<AtomicU64>,
}

impl Publisher for Counted {
    async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        self.inner.publish(envelope).await?;
        // Relaxed: a statistic, read once the relays stopped.
        self.acked.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

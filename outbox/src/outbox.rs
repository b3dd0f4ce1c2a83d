//! [`Outbox`]: the handle a service enqueues through and operators manage
//! dead letters through.

use crate::store::{Backend, Backlog, DeadLetter, Decision, Row, Store};
use crate::{Config, EnqueueError, Error, InvalidMessage, Message, partition_of};
use sqlx::{Pool, Transaction};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// The outbox on one database: enqueue messages inside your own
/// transactions, start a [`Relay`](crate::Relay) to publish them, manage
/// dead letters. Cloning shares it.
pub struct Outbox<DB: Backend> {
    pub(crate) inner: Arc<Inner<DB>>,
}

pub(crate) struct Inner<DB: Backend> {
    pub(crate) store: DB::Store,
    pub(crate) config: Config,
}

impl<DB: Backend> Clone for Outbox<DB> {
    fn clone(&self) -> Self {
        Outbox {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<DB: Backend> std::fmt::Debug for Outbox<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl<DB: Backend> Outbox<DB> {
    /// Opens the outbox on `pool`, creating or upgrading its tables (the
    /// crate's own migrations, recorded in `<table>_version`). Fails with
    /// [`Error::Schema`] if the tables were made with another partition
    /// count.
    pub async fn new(pool: Pool<DB>, config: Config) -> Result<Self, Error> {
        let store = <DB::Store as Store>::open(pool, &config).await?;
        Ok(Outbox {
            inner: Arc::new(Inner { store, config }),
        })
    }

    /// The config the outbox was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The pool the outbox was opened on.
    pub fn pool(&self) -> &Pool<DB> {
        self.inner.store.pool()
    }

    /// Writes `message` into the outbox inside `tx`, the caller's own
    /// transaction: it exists if and only if `tx` commits, and is published
    /// after every earlier-committed message of its key. Returns its id.
    ///
    /// A message over a configured limit is refused with
    /// [`EnqueueError::Invalid`] before anything is written, leaving `tx`
    /// as it was.
    pub async fn enqueue(
        &self,
        tx: &mut Transaction<'_, DB>,
        message: &Message,
    ) -> Result<Uuid, EnqueueError> {
        let row = self.row(message, now_micros())?;
        self.inner
            .store
            .enqueue(tx, std::slice::from_ref(&row))
            .await?;
        Ok(row.id)
    }

    /// Writes several messages inside `tx` in one round trip per statement
    /// (PostgreSQL) rather than one per message. Messages of one key keep
    /// their order in the slice. All are checked first: one invalid message
    /// refuses the whole batch and nothing is written.
    pub async fn enqueue_all(
        &self,
        tx: &mut Transaction<'_, DB>,
        messages: &[Message],
    ) -> Result<(), EnqueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let now = now_micros();
        let rows = messages
            .iter()
            .map(|m| self.row(m, now))
            .collect::<Result<Vec<_>, _>>()?;
        self.inner.store.enqueue(tx, &rows).await?;
        Ok(())
    }

    fn row(&self, m: &Message, now_micros: i64) -> Result<Row, EnqueueError> {
        let c = &self.inner.config;
        let invalid = |why| Err(EnqueueError::Invalid(why));
        if m.topic.is_empty() {
            return invalid(InvalidMessage::EmptyTopic);
        }
        if m.topic.len() > c.max_topic {
            return invalid(InvalidMessage::TopicTooLong {
                len: m.topic.len(),
                max: c.max_topic,
            });
        }
        if m.key.len() > c.max_key {
            return invalid(InvalidMessage::KeyTooLong {
                len: m.key.len(),
                max: c.max_key,
            });
        }
        if m.payload.len() > c.max_payload {
            return invalid(InvalidMessage::PayloadTooLarge {
                len: m.payload.len(),
                max: c.max_payload,
            });
        }
        let header_bytes: usize = m.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        if header_bytes > c.max_headers {
            return invalid(InvalidMessage::HeadersTooLarge {
                len: header_bytes,
                max: c.max_headers,
            });
        }
        #[cfg(feature = "opentelemetry")]
        let headers = {
            let mut headers = m.headers.clone();
            let has = headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(crate::trace::TRACEPARENT));
            if let (false, Some(parent)) = (has, crate::trace::current_traceparent()) {
                headers.push((crate::trace::TRACEPARENT.to_string(), parent));
            }
            serde_json::to_string(&headers)
        };
        #[cfg(not(feature = "opentelemetry"))]
        let headers = serde_json::to_string(&m.headers);
        let headers = headers.unwrap_or_else(|_| "[]".into());
        Ok(Row {
            id: m.id,
            partition: partition_of(&m.key, c.partitions) as i32,
            key: m.key.clone(),
            topic: m.topic.clone(),
            headers,
            payload: m.payload.to_vec(),
            now_micros,
        })
    }

    /// What is waiting: messages and the age of the oldest overall and per
    /// partition (the relay's lag), dead letters, held keys. Counts the hot
    /// table: cheap while the relay keeps up, a scan of the backlog when it
    /// does not.
    pub async fn backlog(&self) -> Result<Backlog, Error> {
        self.inner.store.backlog().await
    }

    /// Dead letters, of one key or all, in key and commit order.
    pub async fn dead_letters(
        &self,
        key: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeadLetter>, Error> {
        self.inner.store.dead_letters(key, limit).await
    }

    /// Puts a dead letter back to be published, ahead of its key's later
    /// messages; the key is released once none of its dead letters is
    /// left. `operator` is logged with the decision.
    pub async fn retry_dead_letter(&self, id: Uuid, operator: &str) -> Result<(), Error> {
        let key = self.inner.store.retry_dead(id, operator).await?;
        tracing::info!(target: "ballast_outbox", %id, key, operator, "dead letter retried");
        Ok(())
    }

    /// Deletes a dead letter for good; its key is released once none of
    /// its dead letters is left. `operator` is logged with the decision.
    pub async fn purge_dead_letter(&self, id: Uuid, operator: &str) -> Result<(), Error> {
        let key = self.inner.store.purge_dead(id, operator).await?;
        tracing::info!(target: "ballast_outbox", %id, key, operator, "dead letter purged");
        Ok(())
    }

    /// The latest decisions about dead letters (dead-lettered by a relay,
    /// retried or purged by an operator), newest first.
    pub async fn decisions(&self, limit: u32) -> Result<Vec<Decision>, Error> {
        self.inner.store.decisions(limit).await
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

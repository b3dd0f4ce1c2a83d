//! [`Inbox`]: handle each message id at most once, inside the consumer's
//! transaction.

use super::{InboxConfig, InboxDatabase, InboxError};
use crate::Error;
use sqlx::{Pool, Transaction};
use std::fmt;
use std::future::Future;
use std::time::Duration;

/// What [`Inbox::process`] did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed<T> {
    /// The id was new: the handler ran and returned this.
    Done(T),
    /// The id was already recorded (by a committed transaction): the
    /// handler did not run.
    Duplicate,
}

impl<T> Processed<T> {
    /// Whether the message was a duplicate.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Processed::Duplicate)
    }
}

/// A consumer's record of handled message ids, in a table of its own on
/// PostgreSQL or SQLite; see the [module docs](super).
///
/// Clones share the pool.
pub struct Inbox<DB: InboxDatabase> {
    pool: Pool<DB>,
    table: String,
}

impl<DB: InboxDatabase> Clone for Inbox<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            table: self.table.clone(),
        }
    }
}

impl<DB: InboxDatabase> fmt::Debug for Inbox<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox").field("table", &self.table).finish()
    }
}

impl<DB: InboxDatabase> Inbox<DB> {
    /// Opens the inbox, creating its table if missing (several processes
    /// may do so at once: the migration runs under a lock).
    pub async fn new(pool: Pool<DB>, config: InboxConfig) -> Result<Self, Error> {
        DB::migrate(&pool, &config).await?;
        Ok(Self {
            pool,
            table: config.qualified(),
        })
    }

    /// Runs `handler` with `tx` unless `message_id` is already recorded,
    /// recording it in `tx` first.
    ///
    /// Commit `tx` after an `Ok`: the id and the handler's writes become
    /// durable together. After an `Err`, roll back (or drop `tx`): nothing
    /// is recorded, and a redelivery of the message runs the handler again.
    ///
    /// Two deliveries of one id at once (two consumers): on PostgreSQL
    /// (read committed, its default) the second waits on the table's
    /// unique index until the first transaction ends, then sees the id
    /// ([`Processed::Duplicate`]) if the first committed, or runs the
    /// handler if it rolled back. Under repeatable read or serializable the
    /// second fails with a serialization error instead; retry it. On SQLite
    /// writers take turns on the database lock.
    ///
    /// The handler is a closure taking the transaction and returning a
    /// future, `|tx| async move { ... }`; the future may borrow the
    /// transaction and anything that outlives the call.
    pub async fn process<'t, 'c, T, E, F, Fut>(
        &self,
        tx: &'t mut Transaction<'c, DB>,
        message_id: &str,
        handler: F,
    ) -> Result<Processed<T>, InboxError<E>>
    where
        F: FnOnce(&'t mut Transaction<'c, DB>) -> Fut,
        Fut: Future<Output = Result<T, E>> + 't,
    {
        if message_id.is_empty() || message_id.len() > 255 {
            return Err(InboxError::InvalidId {
                len: message_id.len(),
            });
        }
        let new = DB::record(&mut **tx, &self.table, message_id)
            .await
            .map_err(InboxError::Database)?;
        if !new {
            return Ok(Processed::Duplicate);
        }
        handler(tx)
            .await
            .map(Processed::Done)
            .map_err(InboxError::Handler)
    }

    /// Deletes the ids recorded more than `age` ago and returns how many.
    ///
    /// Retention: a duplicate delivered after its id was purged is handled
    /// again, so keep ids longer than the broker may redeliver (its ack
    /// wait times its delivery attempts, or its duplicate window and the
    /// relay's outage time, whichever is longer). Run it now and then from
    /// a timer.
    pub async fn purge_older_than(&self, age: Duration) -> Result<u64, Error> {
        Ok(DB::purge(&self.pool, &self.table, age).await?)
    }

    /// The table's name, schema-qualified when a schema was set.
    pub fn table(&self) -> &str {
        &self.table
    }
}

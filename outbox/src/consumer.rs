//! [`InboxConsumer`]: a JetStream pull consumer that handles each message
//! once, through an [`Inbox`], and acknowledges it only after the
//! handler's transaction committed.
//!
//! For each message: begin a transaction, [`Inbox::process`] it with the
//! message's id (its `Ballast-Id` header, else its `Nats-Msg-Id`), commit,
//! then ack. A crash anywhere before the ack leaves the message
//! unacknowledged, so JetStream redelivers it after the consumer's ack
//! wait; if the commit had happened, the inbox finds the id and the
//! redelivery is acked as a duplicate without running the handler again.

use crate::header;
use crate::inbox::{Inbox, InboxDatabase, InboxError, Processed};
use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use futures::StreamExt;
use futures::future::BoxFuture;
use sqlx::{Pool, Transaction};
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

/// What [`InboxConsumer::run`] did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumeStats {
    /// Messages whose handler ran and committed (then were acked).
    pub processed: u64,
    /// Messages whose id the inbox already held: acked, handler not run.
    pub duplicates: u64,
    /// Handler failures: rolled back and nakked for redelivery.
    pub failed: u64,
    /// Messages with neither a `Ballast-Id` nor a usable `Nats-Msg-Id`
    /// header: they cannot be deduplicated, so they are terminated (JetStream
    /// stops redelivering them) and logged.
    pub unidentified: u64,
}

/// Why [`InboxConsumer::run`] stopped early. Messages in flight were not
/// acknowledged: JetStream redelivers them.
#[derive(Debug)]
pub enum ConsumeError {
    /// NATS failed (the consumer's message stream, a lost connection).
    Nats(async_nats::Error),
    /// The database failed (begin, recording the id, commit).
    Database(sqlx::Error),
}

impl fmt::Display for ConsumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsumeError::Nats(e) => write!(f, "consumer's NATS stream failed: {e}"),
            ConsumeError::Database(e) => write!(f, "consumer's database failed: {e}"),
        }
    }
}

impl std::error::Error for ConsumeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConsumeError::Nats(e) => Some(e.as_ref()),
            ConsumeError::Database(e) => Some(e),
        }
    }
}

/// Runs a handler over a JetStream pull consumer's messages, each message
/// id at most once (see the [module docs](self)).
///
/// Use it on the consuming side of an outbox: the relay may publish a
/// message twice and JetStream may deliver it twice, and this makes the
/// handler's effect happen once. The pull consumer should use explicit
/// acks (JetStream's default for pull consumers).
///
/// ```no_run
/// use ballast_outbox::consumer::InboxConsumer;
/// use ballast_outbox::inbox::{Inbox, InboxConfig};
/// # async fn example(consumer: async_nats::jetstream::consumer::PullConsumer, pool: sqlx::PgPool)
/// # -> Result<(), Box<dyn std::error::Error>> {
/// let inbox = Inbox::new(pool.clone(), InboxConfig::default()).await?;
/// let stats = InboxConsumer::new(consumer, pool, inbox)
///     .run(
///         |tx, msg| {
///             let payload = msg.payload.clone();
///             Box::pin(async move {
///                 sqlx::query("INSERT INTO events (body) VALUES ($1)")
///                     .bind(payload.to_vec())
///                     .execute(&mut **tx)
///                     .await?;
///                 Ok::<_, sqlx::Error>(())
///             })
///         },
///         async { tokio::signal::ctrl_c().await.ok(); },
///     )
///     .await?;
/// println!("{} handled, {} duplicates", stats.processed, stats.duplicates);
/// # Ok(())
/// # }
/// ```
pub struct InboxConsumer<DB: InboxDatabase> {
    consumer: PullConsumer,
    pool: Pool<DB>,
    inbox: Inbox<DB>,
    nak_delay: Duration,
}

impl<DB: InboxDatabase> fmt::Debug for InboxConsumer<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxConsumer")
            .field("inbox", &self.inbox)
            .field("nak_delay", &self.nak_delay)
            .finish()
    }
}

impl<DB: InboxDatabase> InboxConsumer<DB> {
    /// A consumer of `consumer`'s messages, handling them in transactions of
    /// `pool` recorded in `inbox` (which should live in the same database).
    /// A failed message is redelivered after 1 s by default.
    pub fn new(consumer: PullConsumer, pool: Pool<DB>, inbox: Inbox<DB>) -> Self {
        Self {
            consumer,
            pool,
            inbox,
            nak_delay: Duration::from_secs(1),
        }
    }

    /// How long JetStream waits before redelivering a message whose
    /// handler failed.
    pub fn nak_delay(mut self, delay: Duration) -> Self {
        self.nak_delay = delay;
        self
    }

    /// Handles messages until `shutdown` resolves (checked between
    /// messages: the message in hand is finished first), the consumer's
    /// message stream ends, or NATS or the database fails.
    ///
    /// `handler` gets the transaction and the message and returns a boxed
    /// future (`|tx, msg| Box::pin(async move { ... })`; clone what it
    /// needs from its surroundings into the future; write the closure in
    /// the call, where it is inferred as taking any borrow; a closure bound
    /// to a variable first is not); its writes commit
    /// with the message's id. An `Err` rolls them back and naks the message
    /// (redelivered after the nak delay). The ack is sent after the commit;
    /// an ack lost on the way means a redelivery, which the inbox reports
    /// as a duplicate.
    pub async fn run<F, E, S>(
        &self,
        mut handler: F,
        shutdown: S,
    ) -> Result<ConsumeStats, ConsumeError>
    where
        F: for<'a> FnMut(
            &'a mut Transaction<'static, DB>,
            &'a jetstream::Message,
        ) -> BoxFuture<'a, Result<(), E>>,
        E: fmt::Display,
        S: Future<Output = ()>,
    {
        let mut stats = ConsumeStats::default();
        let mut messages = self
            .consumer
            .messages()
            .await
            .map_err(|e| ConsumeError::Nats(e.into()))?;
        let mut shutdown = pin!(shutdown);
        loop {
            let next = tokio::select! {
                biased;
                () = &mut shutdown => break,
                next = messages.next() => next,
            };
            let Some(message) = next else { break };
            let message = message.map_err(|e| ConsumeError::Nats(e.into()))?;
            self.handle(&mut handler, &message, &mut stats).await?;
        }
        Ok(stats)
    }

    async fn handle<F, E>(
        &self,
        handler: &mut F,
        message: &jetstream::Message,
        stats: &mut ConsumeStats,
    ) -> Result<(), ConsumeError>
    where
        F: for<'a> FnMut(
            &'a mut Transaction<'static, DB>,
            &'a jetstream::Message,
        ) -> BoxFuture<'a, Result<(), E>>,
        E: fmt::Display,
    {
        let Some(id) = message_id(message) else {
            tracing::warn!(subject = %message.subject, "message without Ballast-Id or Nats-Msg-Id; terminated");
            stats.unidentified += 1;
            ack(message, AckKind::Term).await;
            return Ok(());
        };
        let mut tx = crate::begin(&self.pool)
            .await
            .map_err(ConsumeError::Database)?;
        let outcome = self
            .inbox
            .process(&mut tx, &id, |tx| handler(tx, message))
            .await;
        match outcome {
            Ok(Processed::Done(())) => {
                tx.commit().await.map_err(ConsumeError::Database)?;
                stats.processed += 1;
                ack(message, AckKind::Ack).await;
            }
            Ok(Processed::Duplicate) => {
                drop(tx); // rolls back: nothing was written
                stats.duplicates += 1;
                ack(message, AckKind::Ack).await;
            }
            Err(InboxError::Handler(e)) => {
                drop(tx);
                tracing::warn!(%id, error = %e, "message handler failed; nakked for redelivery");
                stats.failed += 1;
                ack(message, AckKind::Nak(Some(self.nak_delay))).await;
            }
            Err(InboxError::Database(e)) => return Err(ConsumeError::Database(e)),
            Err(InboxError::InvalidId { len }) => {
                tracing::warn!(len, "message id is empty or over 255 bytes; terminated");
                stats.unidentified += 1;
                ack(message, AckKind::Term).await;
            }
        }
        Ok(())
    }
}

/// The message's `Ballast-Id`, else its `Nats-Msg-Id`.
fn message_id(message: &jetstream::Message) -> Option<String> {
    let headers = message.headers.as_ref()?;
    headers
        .get(header::ID)
        .or_else(|| headers.get(NATS_MESSAGE_ID))
        .map(|v| v.as_str().to_owned())
}

/// Sends an ack of `kind`. A lost ack only means a redelivery, which the
/// inbox absorbs, so a failure is logged, not returned.
async fn ack(message: &jetstream::Message, kind: AckKind) {
    if let Err(e) = message.ack_with(kind).await {
        tracing::warn!(error = %e, "could not send the ack; the message will be redelivered");
    }
}

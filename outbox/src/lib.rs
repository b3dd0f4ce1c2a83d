//! A transactional outbox for sqlx: a service writes its business change and
//! the messages that announce it in one transaction, and a relay publishes
//! them to a broker afterwards, at least once, each key's messages in the
//! order their transactions committed. An [`inbox`] on the consumer's side
//! turns at-least-once delivery into effectively-once processing.
//!
//! Use it when a service must change its database *and* tell others, and
//! neither may happen without the other (the dual-write problem).
//!
//! ```
//! use ballast_outbox::{Config, Message, Outbox, Relay, RelayConfig};
//! use ballast_outbox::publish::ChannelPublisher;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! // SQLite is the embedded default; PostgreSQL works the same way.
//! let pool = ballast_outbox::sqlite::connect(&dir.path().join("shop.db")).await?;
//! let outbox = Outbox::new(pool.clone(), Config::default()).await?;
//! sqlx::query("CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER)").execute(&pool).await?;
//!
//! // The order and its event commit together, or neither does. (`begin`
//! // is `pool.begin()` made safe to cancel: a handler dropped mid-begin
//! // leaves no connection inside a transaction; see its docs.)
//! let mut tx = ballast_outbox::begin(&pool).await?;
//! sqlx::query("INSERT INTO orders VALUES ('order-42', 1999)").execute(&mut *tx).await?;
//! let event = Message::json("orders.placed", "order-42", &serde_json::json!({"total": 1999}))?;
//! outbox.enqueue(&mut tx, &event).await?;
//! tx.commit().await?;
//!
//! // The relay publishes committed messages (here to an in-process channel).
//! let (publisher, mut published) = ChannelPublisher::new(16);
//! let relay = Relay::start(&outbox, publisher, RelayConfig::default());
//! let delivered = published.recv().await.expect("the relay publishes it");
//! assert_eq!(delivered.id, event.id());
//! assert_eq!(delivered.seq, 1); // the first message of key "order-42"
//! relay.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Ordering: commit order per key, and why it survives a restore
//!
//! A sequence or a time-ordered id is taken when a row is inserted, not when
//! its transaction commits, so "ids above the last one seen" skips a late
//! committer and "the oldest row of the key" can reorder a key. The outbox
//! keeps one counter row per key (`<table>_keys`): enqueueing bumps it
//! (`INSERT .. ON CONFLICT (key) DO UPDATE SET seq = seq + 1 RETURNING`),
//! and the row lock that bump takes is held until the transaction ends, so
//! a second writer of the same key waits and takes the next number only
//! after the first committed (or rolled back, giving its number back). Each
//! key's messages thus carry `seq` 1, 2, 3, ... in commit order, with no
//! gaps, and a stamp (microseconds, raised past the key's previous stamp;
//! on PostgreSQL the server's clock, read after the counter table was
//! locked) that orders them the same way. On PostgreSQL the relay
//! publishes a message only once its key's previous message (`seq - 1`) has left the
//! outbox, or goes right before it in the same batch (each only after the
//! broker acknowledged the one before). That rule, checked on every claim,
//! is what keeps a key's order: a late committer is never overtaken by its
//! key's next message, which could only be written after it committed.
//! Where a claim starts reading (see "Table health") only decides how soon
//! a late committer is found. SQLite's relay always claims the oldest
//! stamps first, which keeps the same order. Nothing depends on
//! transaction ids or on the snapshot's `xmin`, so a dump and restore (which restarts
//! transaction ids) changes nothing: counters and stamps are plain data.
//! The price is one extra row write per message, and writers of one key
//! queue behind each other (writers of different keys do not).
//!
//! On SQLite one write transaction runs at a time, so commits never
//! overlap and row order is commit order; the same counter is kept so both
//! databases behave alike.
//!
//! # Partitions, leases and fencing
//!
//! Keys hash into partitions ([`partition_of`], fixed when the tables are
//! made). A partition is published by one relay at a time, which holds its
//! lease row (`<table>_leases`: owner, epoch, expiry); relays renew their
//! leases, take free or expired ones (bumping the epoch), and give back
//! partitions above their fair share so a relay that joins gets its share
//! within about a lease. A partition's batches run one after another: claim
//! the oldest rows, publish each key's messages one at a time (the next only
//! after the broker acknowledged the previous), then delete or archive them.
//!
//! Every write that depends on ownership is fenced by the epoch:
//!
//! - PostgreSQL: a batch's transaction first renews its lease row
//!   (`UPDATE .. WHERE owner = me AND epoch = mine`; no row means the lease
//!   was taken over, and nothing is written), which keeps the row locked
//!   until the batch commits. A successor's takeover skips a locked lease,
//!   so it can never claim past rows a stopped owner still holds. The batch
//!   transaction sets `idle_in_transaction_session_timeout` to half a lease,
//!   so a relay stopped mid-batch (SIGSTOP) has its transaction ended by the
//!   server and its locks freed; its partition is taken over within about
//!   one and a half leases, and when it resumes, its commit fails. Rows are
//!   claimed with `FOR UPDATE SKIP LOCKED` through the `(partition, ts)`
//!   index, oldest first.
//! - SQLite: the claim is a plain read (no lock held while publishing, so
//!   writers are never blocked by the relay) and the outcome is recorded in
//!   one write transaction whose first statement checks owner and epoch.
//!
//! A relay that lost its lease may still have a publish in flight that
//! reaches the broker late. It is a duplicate with the same message id, and
//! it cannot put a key out of order at the consumer: every relay sends a
//! key's message only after all earlier messages of the key were
//! acknowledged, and a successor starts from the oldest message not yet
//! recorded, so the first arrival of each id is in key order; later
//! copies are dropped by the broker's dedupe (JetStream's `Nats-Msg-Id`
//! window) or by the consumer's [`inbox`]. JetStream's
//! `Nats-Expected-Last-Subject-Sequence` could make the broker reject a
//! stale relay outright, but only with one subject per key and one publish
//! in flight per subject; the outbox does not use it, since the dedupe
//! window and the inbox already absorb the duplicates without that cost.
//!
//! # Waking the relay (PostgreSQL)
//!
//! A `NOTIFY` takes a database-wide lock at commit and serialises every
//! writer that sends one. Enqueueing notifies only while the partition's
//! relay is idle (its lease row says so; the relay marks it when a claim
//! finds nothing): a busy relay gets no notifications, and concurrent writers
//! stay parallel. A write racing the moment the relay goes idle can miss its
//! wake-up; the poll interval bounds that delay.
//!
//! # Failures and dead letters
//!
//! Each publish goes through ballast-retry (budget on) and a
//! ballast-circuit-breaker, so a broker outage is waited out, not hammered:
//! messages not sent stay in the table, and the relay pauses for the
//! breaker's retry-after. Only the broker refusing a message counts toward
//! its attempts; after [`RelayConfig`]'s `max_attempts` it moves to the dead
//! letters with its last error, and by default its key is held (its later
//! messages wait) until an operator retries or purges it
//! ([`Outbox::retry_dead_letter`], [`Outbox::purge_dead_letter`], or the
//! axum router in `admin`, feature `axum`); [`OnDeadLetter::SkipMessage`]
//! lets the key go on instead. Every decision is logged in
//! `<table>_decisions` and as a `tracing` event.
//!
//! # Table health
//!
//! Published rows leave the hot table at once (deleted, or moved to
//! `<table>_published` under [`Retention::Keep`]), so the table holds only
//! what is waiting, and vacuum keeps the claim's `(partition, ts)` index
//! short. While a long transaction elsewhere holds back vacuum, the index
//! entries of deleted rows stay, and a claim reading a partition from the
//! front walks every one of them: the walk grows with the held
//! transaction's age, and a relay that always read from the front lost a
//! third to a half of its rate over a drain (see below).
//!
//! So on PostgreSQL each partition's worker keeps a read position in memory
//! while it holds the lease:
//!
//! - A new lease reads from the front. After a batch whose claimed rows
//!   all left the table, the next claim reads from the newest stamp it
//!   removed less [`RelayConfigBuilder::lookback`] (100 ms by default);
//!   the index scan starts there, past the dead entries below. A batch
//!   that leaves rows behind (not acknowledged, refused) keeps the position
//!   at the lowest of them.
//! - A message whose transaction commits after the position passed its
//!   stamp is behind the read. It is never overtaken: its key's next
//!   message is written only after it committed, and is held by the rule
//!   above while it waits (each claim asks whether a row's previous
//!   message is still in the outbox, where the relay did not remove it
//!   itself: an exact lookup of a unique `(key, seq)` index, which meets
//!   at most that row's own entries, so it does not crawl; see below).
//!   Meeting such a held message sends the next claim to the front, which
//!   finds the late one at once.
//! - A late message with no successor yet is found by a rescan, which runs
//!   at least every [`RelayConfigBuilder::rescan_interval`] (1 s by
//!   default; an idle partition is checked at least that often). A rescan
//!   does not start at the front: before each one the relay measures a
//!   horizon, the lowest stamp a row not yet committed can carry (every
//!   writer of stamps locks the `<table>_keys` table first and reads the
//!   clock after, so a stamp is at least the start of its transaction;
//!   the horizon is the oldest start among the transactions holding a lock
//!   on that table, from `pg_locks` and `pg_stat_activity`, or the time of
//!   measuring). A late message was open when a read passed it, so its
//!   stamp is at least the horizon measured before that read's rescan, and
//!   the next rescan reads from there (or from the position, if lower). A
//!   transaction held open elsewhere that writes no message does not pull
//!   the horizon back; one that enqueued does, rightly: its messages are
//!   still to come.
//! - A rescan reads from the front when the horizon is unknown: a lock
//!   holder whose start PostgreSQL does not show (a prepared transaction;
//!   another role's session, unless the relay's role has
//!   `pg_read_all_stats`), or a failed measurement. Every 60th rescan does
//!   anyway (about a minute by default), in case the server's clock stepped
//!   back further than the lookback. A dead letter put back, and the
//!   messages its key held behind it, are stamped anew as an enqueue would
//!   stamp them (in `seq` order), so the relay meets them ahead of its
//!   position.
//!
//! The rule also covers a row someone else holds locked: the claim's
//! `SKIP LOCKED` passes over it, and its key's later messages wait for it.
//! The `(key, seq)` index is migration version 2 (tables made by an older
//! version get it on the next [`Outbox::new`]; building it locks writes to
//! the hot table for as long as the build takes, short when the table holds
//! only what is waiting). Every writer keeps `(key, seq)` unique: the key's
//! counter hands each number out once, and a dead letter put back keeps
//! its own. SQLite keeps reading from the front: it frees a deleted row's
//! index entry at once (no row versions), so its front holds nothing dead
//! to walk, and it runs one relay.
//!
//! In the bench (`benches/relay.rs`, sections `drain` and `held`:
//! 1,000,000 messages over 10,000 keys, 64 partitions, batches of 1,000,
//! on a shared 2-core machine), a transaction held open for the whole
//! drain left a relay reading from the front 0.39 and 0.47 of its rate
//! without one when database-bound (a counting publisher) and 0.78 and
//! 0.80 to JetStream (two runs); reading from the position, 0.75, 1.15 and
//! 0.86 database-bound and 1.05, 1.66 and 0.78 to JetStream (three runs).
//! The machine's load moved between and within runs, so these are rough.
//! Those rescans still read from the front, walking every entry deleted
//! since the held transaction began once a rescan interval per partition:
//! on a quiet run the relay kept 0.62 (counting) and 0.60 (JetStream) of
//! its rate, as much as a plain `SKIP LOCKED` loop lost (0.59). With the
//! rescan reading from the horizon, and the predecessor lookup made only
//! for rows whose predecessor the relay did not itself remove (below):
//! 1.05 (counting) and 0.96 (JetStream), the plain loop 0.78, in one run
//! (load 3 to 6); what remains is the lookback window and the rescans'
//! walk back over one interval.
//!
//! The predecessor rule costs a lookup of the `(key, seq)` index only
//! where the relay cannot answer it itself: each partition's worker
//! remembers, while it holds the lease, the highest `seq` of each key it
//! published and deleted (up to 4,096 keys), and a row whose predecessor
//! is that or earlier, or is claimed in the same batch, needs none; the
//! rest are looked up in one statement per batch. A lookup per row in the
//! claim itself cost the relay about a third of its rate in the drain
//! (0.62 of the bare loop to JetStream at batch 100; PostgreSQL ran the
//! first form, an `EXISTS`, as a hash of the whole index on every claim);
//! without it, in the same bench: 0.98 of the bare loop at batch 100 and
//! 0.85 at batch 1,000 (28,337 and 40,623 messages a second to JetStream).
//!
//! Keep transactions short on an outbox database all the same: the rows
//! the held transaction keeps cost table space and vacuum work.
//!
//! # Map
//!
//! - [`Outbox`]: enqueue, backlog, dead letters. [`Message`], [`Config`].
//! - [`Relay`], [`RelayHandle`], [`RelayConfig`], [`RelayStats`].
//! - [`publish`]: the [`Publisher`] trait and the publishers that ship.
//! - [`inbox`]: effectively-once processing for consumers.
//! - [`begin`], [`begin_with`]: transactions that a cancelled caller
//!   cannot leave open (sqlx 0.8 can).
//! - [`migrations`]: the crate's own migration runner, public for other
//!   libraries' tables (ballast-saga uses it).
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod admin;
mod begin;
mod config;
#[cfg(feature = "nats")]
pub mod consumer;
#[cfg(feature = "sqlite")]
mod embedded;
mod error;
pub mod inbox;
mod message;
pub mod migrations;
mod outbox;
mod partition;
pub mod publish;
mod relay;
#[cfg(feature = "sqlite")]
pub mod sqlite {
    //! SQLite, the embedded default.
    pub use crate::embedded::connect;
}
mod store;
#[cfg(feature = "opentelemetry")]
pub mod trace;

pub use begin::{begin, begin_with};
pub use config::{Config, ConfigBuilder, OnDeadLetter, RelayConfig, RelayConfigBuilder, Retention};
pub use error::{EnqueueError, Error, InvalidMessage};
pub use inbox::{Inbox, InboxConfig, Processed};
pub use message::{Envelope, Message, header};
pub use outbox::Outbox;
pub use partition::partition_of;
pub use publish::{ChannelPublisher, PublishError, Publisher};
pub use relay::{Relay, RelayHandle, RelayStats};
pub use store::{Backend, Backlog, DeadLetter, Decision, PartitionBacklog};

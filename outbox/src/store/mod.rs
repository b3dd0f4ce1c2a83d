//! Where the outbox's SQL lives: one [`Store`] per database, the same
//! operations in two dialects. Everything here is crate-internal; the types
//! are `pub` only so the sealed [`Backend`] trait can name them.

use crate::{Config, Error};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

/// A database the outbox runs on: PostgreSQL or SQLite. Sealed.
pub trait Backend: sqlx::Database + Sized {
    /// The store speaking this database's dialect.
    #[doc(hidden)]
    type Store: Store<Db = Self>;
}

/// The tables' full names, derived once from the config.
#[derive(Debug, Clone)]
pub struct Names {
    pub outbox: String,
    pub keys: String,
    pub leases: String,
    pub relays: String,
    pub held: String,
    pub dead: String,
    pub published: String,
    pub decisions: String,
    pub meta: String,
    pub version: String,
    /// An index name prefix (unqualified: indexes live in the table's schema).
    pub index: String,
    /// The `LISTEN/NOTIFY` channel.
    pub channel: String,
}

impl Names {
    pub fn new(config: &Config) -> Self {
        let prefix = match &config.schema {
            Some(s) => format!("{s}."),
            None => String::new(),
        };
        let t = &config.table;
        let name = |suffix: &str| format!("{prefix}{t}{suffix}");
        Names {
            outbox: name(""),
            keys: name("_keys"),
            leases: name("_leases"),
            relays: name("_relays"),
            held: name("_held"),
            dead: name("_dead"),
            published: name("_published"),
            decisions: name("_decisions"),
            meta: name("_meta"),
            version: name("_version"),
            index: t.clone(),
            // Lower case: PostgreSQL folds unquoted names, and the channel
            // must read the same in LISTEN and in pg_notify's string.
            channel: match &config.schema {
                Some(s) => format!("{s}_{t}"),
                None => t.clone(),
            }
            .to_ascii_lowercase(),
        }
    }
}

impl Names {
    /// Whether a partition has claimable rows, read from the front (SQLite;
    /// PostgreSQL reads from the relay's position, in its store).
    pub fn has_work_sql(&self) -> String {
        format!(
            "SELECT EXISTS (SELECT 1 FROM {} o WHERE partition = $1
                 AND NOT EXISTS (SELECT 1 FROM {} h WHERE h.key = o.key))",
            self.outbox, self.held
        )
    }
}

/// A validated message ready to write.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: Uuid,
    pub partition: i32,
    pub key: String,
    pub topic: String,
    pub headers: String,
    pub payload: Vec<u8>,
    /// Microseconds since the Unix epoch on the writer's clock: the floor of
    /// the row's ordering stamp (see the crate docs on ordering).
    pub now_micros: i64,
}

/// What a relay removed from one partition while it holds the lease: per
/// key, the highest `seq` it published and deleted. A claim asks the
/// database whether a row's predecessor (`seq - 1`) still waits only when
/// this does not already say it is gone (a key's messages are removed in
/// `seq` order, so everything up to that `seq` is). Bounded: past
/// [`Removed::CAP`] keys it forgets them all, which only costs lookups.
#[derive(Debug, Default)]
pub struct Removed {
    seqs: HashMap<String, i64>,
}

impl Removed {
    /// The most keys remembered.
    pub const CAP: usize = 4096;

    /// Whether `key`'s message `seq - 1` is known to be out of the outbox
    /// (or there is none: `seq` 1 is a key's first message).
    pub fn covers(&self, key: &str, seq: i64) -> bool {
        seq <= 1 || self.seqs.get(key).is_some_and(|&done| done >= seq - 1)
    }

    /// `key`'s message `seq` was published and deleted.
    pub fn record(&mut self, key: &str, seq: i64) {
        match self.seqs.get_mut(key) {
            Some(done) => *done = (*done).max(seq),
            None => {
                if self.seqs.len() >= Self::CAP {
                    self.seqs.clear();
                }
                self.seqs.insert(key.to_owned(), seq);
            }
        }
    }
}

/// A row claimed for publishing.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub key: String,
    pub seq: i64,
    /// Its ordering stamp (where the relay's read position moves to).
    pub ts: i64,
    /// Whether the key's previous message (`seq - 1`) is still in the
    /// outbox (always false on SQLite, whose relay reads from the front).
    pub after_waiting: bool,
    pub topic: String,
    pub headers: String,
    pub payload: Vec<u8>,
    pub attempts: i32,
}

/// A claimed batch: what the store keeps for it, and its rows.
pub type Claim<B> = (B, Vec<Claimed>);

/// A partition this relay holds, at the epoch it took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    pub partition: i32,
    pub epoch: i64,
}

/// What became of a claimed batch.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Acknowledged by the broker: leave the hot table.
    pub acked: Vec<Uuid>,
    /// Refused by the broker: one more attempt, dead-lettered at the limit.
    pub refused: Vec<(Uuid, String)>,
}

/// What completing a batch did besides removing acknowledged rows.
#[derive(Debug, Default, Clone)]
pub struct Completed {
    /// Messages moved to the dead letters, with their key.
    pub dead_lettered: Vec<(Uuid, String)>,
}

/// How to treat published and refused rows when completing a batch.
#[derive(Debug, Clone)]
pub struct CompleteSettings {
    pub relay: String,
    pub keep_published: bool,
    pub max_attempts: i32,
    pub hold_key: bool,
}

/// A message in the dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "axum", derive(serde::Serialize))]
pub struct DeadLetter {
    /// The message id.
    pub id: Uuid,
    /// Its ordering key.
    pub key: String,
    /// The key's sequence number.
    pub seq: i64,
    /// Its topic.
    pub topic: String,
    /// How many times the broker refused it.
    pub attempts: i32,
    /// The broker's last refusal.
    pub last_error: Option<String>,
    /// Its payload size in bytes.
    pub payload_bytes: i64,
    /// When it was enqueued (Unix milliseconds).
    pub enqueued_at_ms: i64,
    /// When it was dead-lettered (Unix milliseconds).
    pub dead_at_ms: i64,
}

/// One operator decision, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "axum", derive(serde::Serialize))]
pub struct Decision {
    /// When (Unix milliseconds).
    pub at_ms: i64,
    /// `retry`, `purge` or `dead-lettered`.
    pub action: String,
    /// The message.
    pub id: Option<Uuid>,
    /// Its key.
    pub key: Option<String>,
    /// Who decided (the operator's name, or the relay).
    pub by: Option<String>,
}

/// The messages waiting in one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionBacklog {
    /// The partition.
    pub partition: u32,
    /// Messages not yet published.
    pub messages: u64,
    /// Age of the oldest of them: the relay's lag on this partition.
    pub oldest_age: Duration,
}

/// The outbox's backlog, read from the database.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Backlog {
    /// Messages not yet published, over all partitions.
    pub messages: u64,
    /// Age of the oldest of them: the relay's lag.
    pub oldest_age: Option<Duration>,
    /// Per partition, those with messages waiting.
    pub partitions: Vec<PartitionBacklog>,
    /// Messages in the dead letters.
    pub dead_letters: u64,
    /// Keys held behind a dead letter.
    pub held_keys: u64,
}

impl Backlog {
    /// Assembles the snapshot from per-partition (partition, messages,
    /// age of the oldest) rows and the two counts.
    pub fn from_rows(
        rows: impl IntoIterator<Item = (u32, u64, Duration)>,
        dead: u64,
        held: u64,
    ) -> Self {
        let mut backlog = Backlog {
            dead_letters: dead,
            held_keys: held,
            ..Backlog::default()
        };
        for (partition, messages, oldest_age) in rows {
            backlog.messages += messages;
            backlog.oldest_age = backlog.oldest_age.max(Some(oldest_age));
            backlog.partitions.push(PartitionBacklog {
                partition,
                messages,
                oldest_age,
            });
        }
        backlog
    }
}

/// The operations the outbox and its relay run, in one database's dialect.
pub trait Store: Send + Sync + 'static {
    type Db: sqlx::Database;
    /// A claimed batch: its rows and, where the database holds locks for
    /// it (PostgreSQL), the open transaction.
    type Batch: Send;

    fn open(
        pool: sqlx::Pool<Self::Db>,
        config: &Config,
    ) -> impl Future<Output = Result<Self, Error>> + Send
    where
        Self: Sized;
    fn pool(&self) -> &sqlx::Pool<Self::Db>;
    fn names(&self) -> &Names;

    fn enqueue<'a>(
        &'a self,
        tx: &'a mut sqlx::Transaction<'_, Self::Db>,
        rows: &'a [Row],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

    /// Records this relay as live until `ttl` from now; returns how many
    /// relays are live.
    fn heartbeat(
        &self,
        relay: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<u32, Error>> + Send;
    /// The partitions `relay` holds now, with their epochs.
    fn held(&self, relay: &str) -> impl Future<Output = Result<Vec<Lease>, Error>> + Send;
    /// Extends the leases `relay` holds that no batch has locked.
    fn renew(&self, relay: &str, ttl: Duration) -> impl Future<Output = Result<(), Error>> + Send;
    /// Takes up to `n` free or expired partitions, bumping their epochs.
    fn acquire(
        &self,
        relay: &str,
        n: u32,
        ttl: Duration,
    ) -> impl Future<Output = Result<Vec<Lease>, Error>> + Send;
    /// Gives a lease back so another relay can take it at once; false if
    /// it was no longer this relay's.
    fn release(
        &self,
        relay: &str,
        lease: Lease,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
    /// Gives every lease back and leaves the relay table.
    fn leave(&self, relay: &str) -> impl Future<Output = Result<(), Error>> + Send;

    /// Renews the lease (failing with [`Error::Fenced`] if it was taken
    /// over) and claims up to `limit` rows of its partition, oldest first,
    /// from stamp `from` on (`None`: from the front; SQLite always reads
    /// from the front). `None` when the partition has nothing there (it is
    /// then marked idle, so the next enqueue wakes the relay).
    fn claim(
        &self,
        relay: &str,
        lease: Lease,
        limit: u32,
        ttl: Duration,
        from: Option<i64>,
        removed: &Removed,
    ) -> impl Future<Output = Result<Option<Claim<Self::Batch>>, Error>> + Send;
    /// The lowest stamp a row not committed yet can carry, measured now
    /// (`None`: unknown; SQLite reads from the front and never needs it).
    /// A read position that passed rows before this call, if they commit
    /// later, finds them again from here (`relay/cursor.rs`).
    fn horizon(&self) -> impl Future<Output = Result<Option<i64>, Error>> + Send;
    /// Whether the partition has rows a claim from `from` would take (a
    /// plain read, no lock, no write).
    fn has_work(
        &self,
        partition: i32,
        from: Option<i64>,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
    /// Records what the broker did with a claimed batch, if the lease is
    /// still this relay's ([`Error::Fenced`] and nothing written if not).
    fn complete(
        &self,
        batch: Self::Batch,
        lease: Lease,
        outcome: Outcome,
        settings: &CompleteSettings,
    ) -> impl Future<Output = Result<Completed, Error>> + Send;
    /// Deletes kept published rows older than `age`.
    fn purge_published(&self, age: Duration) -> impl Future<Output = Result<u64, Error>> + Send;

    fn backlog(&self) -> impl Future<Output = Result<Backlog, Error>> + Send;
    fn dead_letters(
        &self,
        key: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, Error>> + Send;
    /// Moves a dead letter back to the hot table (its key's hold released
    /// once no dead letter of the key is left); returns its key.
    fn retry_dead(&self, id: Uuid, by: &str) -> impl Future<Output = Result<String, Error>> + Send;
    /// Deletes a dead letter (hold released as above); returns its key.
    fn purge_dead(&self, id: Uuid, by: &str) -> impl Future<Output = Result<String, Error>> + Send;
    fn decisions(&self, limit: u32) -> impl Future<Output = Result<Vec<Decision>, Error>> + Send;

    /// Runs until dropped, calling `wake(Some(partition))` when a writer
    /// signals the partition and `wake(None)` when signals may have been
    /// missed (after a reconnect). SQLite has no signals: it never returns.
    fn listen(&self, wake: Wake) -> impl Future<Output = ()> + Send;
}

/// What [`Store::listen`] calls.
pub type Wake = std::sync::Arc<dyn Fn(Option<u32>) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::Removed;

    #[test]
    fn removed_covers_a_keys_messages_up_to_the_one_after_its_highest_removed() {
        let mut r = Removed::default();
        assert!(r.covers("a", 1), "a key's first message has no predecessor");
        assert!(!r.covers("a", 2));
        r.record("a", 3);
        r.record("a", 2);
        assert!(r.covers("a", 4), "3 removed: 4 may go");
        assert!(r.covers("a", 2));
        assert!(!r.covers("a", 5), "4 not known removed");
        assert!(!r.covers("b", 2));
    }

    #[test]
    fn removed_forgets_everything_past_its_cap_and_only_costs_lookups() {
        let mut r = Removed::default();
        for i in 0..Removed::CAP {
            r.record(&format!("k{i}"), 1);
        }
        assert!(r.covers("k0", 2));
        r.record("one more", 1);
        assert!(!r.covers("k0", 2));
        assert!(r.covers("one more", 2));
    }
}

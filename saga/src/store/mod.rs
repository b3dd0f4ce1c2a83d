//! Where the saga log's SQL lives: one [`Store`] per database, the same
//! operations in two dialects behind an object-safe, crate-internal trait.
//!
//! Every write that depends on owning a saga is fenced: in one transaction
//! it first updates the saga's row `WHERE id AND owner AND epoch` (no row:
//! the lease was taken over, nothing is written), then appends to the log,
//! then commits. On PostgreSQL that update holds the row's lock until the
//! commit, so a takeover (which bumps the epoch on the same row) waits for
//! it or comes first; on SQLite the transaction is `BEGIN IMMEDIATE`.
//!
//! Messages a step sent are enqueued in the outbox in the same
//! transaction, after the fencing update and before the log entry, so a
//! fenced, gated or failed append enqueues nothing. Lock order inside the
//! transaction: the saga's row first, then the outbox's key counters, in
//! key order (`Outbox::enqueue_all` sorts them); every writer takes them in
//! that order, so two appends cannot deadlock.

use crate::operator::Decision;
use crate::saga::{Kind, LogEntry, SagaId, SagaInfo, Status};
use crate::{CancelError, Config, DecisionError, Error};
use futures::future::BoxFuture;
use serde_json::Value;
use std::time::Duration;

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
#[cfg(test)]
mod tests;

/// The tables' full names.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub sagas: String,
    pub log: String,
    pub version: String,
    /// Index name prefix (unqualified: indexes live in the table's schema).
    pub index: String,
}

impl Names {
    pub fn new(config: &Config) -> Names {
        let prefix = config
            .schema
            .as_ref()
            .map(|s| format!("{s}."))
            .unwrap_or_default();
        let t = &config.table;
        Names {
            sagas: format!("{prefix}{t}_sagas"),
            log: format!("{prefix}{t}_log"),
            version: format!("{prefix}{t}_version"),
            index: t.clone(),
        }
    }
}

/// A saga to insert, owned by its creator at epoch 1.
#[derive(Debug, Clone)]
pub(crate) struct NewSaga {
    pub id: SagaId,
    pub name: String,
    pub version: u32,
    pub state: Value,
    pub deadline_ms: Option<i64>,
}

/// A saga this executor holds, at the epoch it took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Lease {
    pub id: SagaId,
    pub epoch: i64,
}

/// One entry to append, with what it changes on the saga's row.
#[derive(Debug, Clone)]
pub(crate) struct Append {
    /// Its number in the saga's log: the runner counts them, and an
    /// append retried after an ambiguous commit finds it already there.
    /// 0 takes the next free number, without that check (the stores'
    /// own tests).
    pub n: i64,
    pub kind: Kind,
    pub step: Option<String>,
    pub state: Option<Value>,
    pub error: Option<String>,
    /// The saga's new status, if it changes.
    pub status: Option<Status>,
    /// Write nothing if a cancel was requested (a step before the pivot, or
    /// the pivot, is about to start).
    pub gate: bool,
    /// The pivot starts: refuse cancels from now on.
    pub pivot: bool,
    /// Messages to enqueue in the outbox in the same transaction.
    pub messages: Vec<ballast_outbox::Message>,
}

impl Append {
    pub fn new(kind: Kind) -> Append {
        Append {
            n: 0,
            kind,
            step: None,
            state: None,
            error: None,
            status: None,
            gate: false,
            pivot: false,
            messages: Vec::new(),
        }
    }
}

/// What became of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Durable; whether a cancel has been requested.
    Written { cancel_requested: bool },
    /// A gated entry was not written: a cancel was requested.
    Cancelled,
    /// The outbox refused a message (over a limit): nothing was written.
    InvalidMessage(String),
}

/// What one entry's statements did, inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wrote {
    /// The entry is written (on commit).
    New { cancel_requested: bool },
    /// The entry was already there: an earlier try committed it.
    Already { cancel_requested: bool },
    /// Gated and a cancel was requested: nothing written.
    Cancelled,
    /// The outbox refused a message: nothing may be committed.
    Invalid(String),
}

impl From<Wrote> for Appended {
    fn from(w: Wrote) -> Appended {
        match w {
            Wrote::New { cancel_requested } | Wrote::Already { cancel_requested } => {
                Appended::Written { cancel_requested }
            }
            Wrote::Cancelled => Appended::Cancelled,
            Wrote::Invalid(why) => Appended::InvalidMessage(why),
        }
    }
}

/// A saga's row and log.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub info: SagaInfo,
    pub deadline_ms: Option<i64>,
    pub cancel_requested: bool,
    pub log: Vec<LogEntry>,
}

/// The operations the executor runs, in one database's dialect.
pub(crate) trait Store: Send + Sync + 'static {
    /// Inserts the saga and its `started` entry, owned by `owner` at epoch 1.
    fn create(
        &self,
        saga: NewSaga,
        owner: &str,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Lease, Error>>;
    /// Appends entry `entry.n` if `owner` still holds the saga at
    /// `lease.epoch` ([`Error::Fenced`] and nothing written if not),
    /// renewing the lease. Idempotent: an entry already there (same
    /// number, kind and epoch) is answered as written, and its messages
    /// are not enqueued again.
    fn append(
        &self,
        lease: Lease,
        owner: &str,
        ttl: Duration,
        entry: Append,
    ) -> BoxFuture<'_, Result<Appended, Error>>;
    /// Appends entries of several sagas `owner` holds in one transaction,
    /// each fenced and answered on its own; `None` if the group failed as
    /// a whole (then each is to be appended alone).
    fn append_batch<'a>(
        &'a self,
        owner: &'a str,
        ttl: Duration,
        batch: &'a [(Lease, Append)],
    ) -> BoxFuture<'a, Option<Vec<Result<Appended, Error>>>>;
    /// Extends the leases of every active saga `owner` holds.
    fn renew(&self, owner: &str, ttl: Duration) -> BoxFuture<'_, Result<u64, Error>>;
    /// Takes up to `limit` active sagas that are unowned or whose lease
    /// expired, bumping their epochs.
    fn claim(
        &self,
        owner: &str,
        ttl: Duration,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Lease>, Error>>;
    /// Gives back every saga `owner` holds (a clean shutdown), or only
    /// `only` (its task died).
    fn release(&self, owner: &str, only: Option<Lease>) -> BoxFuture<'_, Result<(), Error>>;
    /// The saga's row and whole log.
    fn load(&self, id: SagaId) -> BoxFuture<'_, Result<Option<Loaded>, Error>>;
    /// Asks a running saga to compensate, refused once its pivot started.
    fn cancel(&self, id: SagaId) -> BoxFuture<'_, Result<(), CancelError>>;
    /// Up to `limit` sagas in `status`, oldest first.
    fn list(&self, status: Status, limit: u32) -> BoxFuture<'_, Result<Vec<SagaInfo>, Error>>;
    /// Writes an operator's decision if the saga's status allows it: the
    /// row changes, its epoch is bumped and its owner cleared, and the
    /// `operator_decision` entry is appended under the new epoch, in one
    /// transaction.
    fn decide(
        &self,
        id: SagaId,
        decision: Decision,
        operator: &str,
    ) -> BoxFuture<'_, Result<(), DecisionError>>;
}

/// The SQL for a decision's new status: a resumed saga goes back to
/// compensating if its log turned to compensating, else to running.
pub(crate) fn decided_status(decision: Decision, log: &str) -> String {
    match decision {
        Decision::RetryCompensation => "'compensating'".into(),
        Decision::MarkCompensated => "'compensated'".into(),
        Decision::Abort => "'aborted'".into(),
        Decision::Resume => format!(
            "CASE WHEN EXISTS (SELECT 1 FROM {log} WHERE saga_id = $1 AND kind = 'compensating')
                 THEN 'compensating' ELSE 'running' END"
        ),
    }
}

/// The SQL list of the statuses a decision applies to.
pub(crate) fn applies_to(decision: Decision) -> String {
    decision
        .applies_to()
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The reason kept on the row: the decision for one that ends the saga,
/// none for one that sets it going again.
pub(crate) fn decided_reason(decision: Decision, operator: &str) -> Option<String> {
    match decision {
        Decision::MarkCompensated | Decision::Abort => Some(decision.entry(operator)),
        Decision::RetryCompensation | Decision::Resume => None,
    }
}

/// Turns a refused decision's row into the reason.
pub(crate) fn refused_decision(
    id: SagaId,
    decision: Decision,
    row: Option<String>,
) -> DecisionError {
    match row {
        None => DecisionError::NotFound(id),
        Some(s) => match status(&s) {
            Ok(status) => DecisionError::WrongStatus {
                id,
                status,
                decision,
            },
            Err(e) => DecisionError::Store(e),
        },
    }
}

/// Unix milliseconds on this process's clock.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// Builds a [`LogEntry`] from a row's columns.
pub(crate) fn entry(
    n: i64,
    kind: &str,
    step: Option<String>,
    state: Option<String>,
    error: Option<String>,
    epoch: i64,
    at_ms: i64,
) -> Result<LogEntry, Error> {
    let kind =
        Kind::parse(kind).ok_or_else(|| Error::Schema(format!("unknown log kind {kind:?}")))?;
    let state = state
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| Error::Schema(format!("a logged state is not JSON: {e}")))?;
    Ok(LogEntry {
        n,
        kind,
        step,
        state,
        error,
        epoch,
        at_ms,
    })
}

pub(crate) fn status(s: &str) -> Result<Status, Error> {
    Status::parse(s).ok_or_else(|| Error::Schema(format!("unknown saga status {s:?}")))
}

/// Turns a refused cancel's row into the reason.
pub(crate) fn refused(id: SagaId, row: Option<(String, bool)>) -> CancelError {
    match row {
        None => CancelError::NotFound(id),
        Some((s, past_pivot)) => match Status::parse(&s) {
            Some(s) if !s.is_active() => CancelError::NotRunning(id, s),
            _ if past_pivot => CancelError::PastPivot(id),
            Some(s) => CancelError::NotRunning(id, s),
            None => CancelError::Store(Error::Schema(format!("unknown saga status {s:?}"))),
        },
    }
}

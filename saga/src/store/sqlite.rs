//! The saga log's SQL for SQLite.
//!
//! One write transaction runs at a time (`BEGIN IMMEDIATE` takes the write
//! lock first, so a transaction never has to upgrade a read lock and fail).
//! Times are Unix milliseconds on the writer's clock: every process on one
//! SQLite file runs on one machine.

use super::{
    Append, Appended, Lease, Loaded, Names, NewSaga, Store, Wrote, applies_to, decided_reason,
    decided_status, entry, ms, now_ms, refused, refused_decision, status,
};
use crate::operator::Decision;
use crate::saga::{Kind, SagaId, SagaInfo, Status};
use crate::{CancelError, Config, DecisionError, Error};
use futures::future::BoxFuture;
use sqlx::{Pool, Row as _, Sqlite, Transaction};
use std::time::Duration;

/// The SQLite store.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    pool: Pool<Sqlite>,
    names: Names,
    /// Where the messages steps send are enqueued (the same database).
    outbox: Option<ballast_outbox::Outbox<Sqlite>>,
}

fn steps(n: &Names) -> Vec<String> {
    let Names {
        sagas, log, index, ..
    } = n;
    vec![format!(
        "CREATE TABLE {sagas} (
            id BLOB PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            status TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            owner TEXT,
            epoch INTEGER NOT NULL DEFAULT 0,
            lease_expires_at INTEGER NOT NULL DEFAULT 0,
            deadline_ms INTEGER,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            past_pivot INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX {index}_active ON {sagas} (status, lease_expires_at);
        CREATE TABLE {log} (
            saga_id BLOB NOT NULL,
            n INTEGER NOT NULL,
            kind TEXT NOT NULL,
            step TEXT,
            state TEXT,
            error TEXT,
            epoch INTEGER NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY (saga_id, n)
        );"
    )]
}

impl SqliteStore {
    pub async fn open(pool: Pool<Sqlite>, config: &Config) -> Result<Self, Error> {
        if config.schema.is_some() {
            return Err(Error::Config(ballast_core::ConfigError::new(
                "saga executor",
                "schema",
                "SQLite has no schemas; leave it unset",
            )));
        }
        let names = Names::new(config);
        ballast_outbox::migrations::sqlite(&pool, &names.version, &steps(&names))
            .await
            .map_err(Error::from_migration)?;
        Ok(SqliteStore {
            pool,
            names,
            outbox: None,
        })
    }

    /// Enqueues the messages steps send through `outbox`.
    pub fn with_outbox(mut self, outbox: ballast_outbox::Outbox<Sqlite>) -> Self {
        self.outbox = Some(outbox);
        self
    }

    async fn create_(&self, saga: NewSaga, owner: &str, ttl: Duration) -> Result<Lease, Error> {
        let n = &self.names;
        let now = now_ms();
        let state = saga.state.to_string();
        let mut tx = ballast_outbox::begin_with(&self.pool, "BEGIN IMMEDIATE").await?;
        sqlx::query(&format!(
            "INSERT INTO {} (id, name, version, status, state, owner, epoch, lease_expires_at, deadline_ms, created_at, updated_at)
             VALUES ($1, $2, $3, 'running', $4, $5, 1, $6, $7, $8, $8)",
            n.sagas
        ))
        .bind(saga.id.0)
        .bind(&saga.name)
        .bind(i64::from(saga.version))
        .bind(&state)
        .bind(owner)
        .bind(now + ms(ttl))
        .bind(saga.deadline_ms)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO {} (saga_id, n, kind, state, epoch, at) VALUES ($1, 1, $2, $3, 1, $4)",
            n.log
        ))
        .bind(saga.id.0)
        .bind(Kind::Started.as_str())
        .bind(&state)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Lease {
            id: saga.id,
            epoch: 1,
        })
    }

    /// One entry's statements inside `tx`: the fencing update (which
    /// locks the saga's row), the gate, then, unless entry `e.n` is
    /// already in the log (a retry of an append whose commit was
    /// ambiguous), the row's changes, the messages (`with_messages`) and
    /// the entry. `Err(Fenced)`: nothing was changed.
    async fn write_entry(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        lease: Lease,
        owner: &str,
        ttl: Duration,
        e: &Append,
        with_messages: bool,
    ) -> Result<Wrote, Error> {
        let n = &self.names;
        let now = now_ms();
        let fenced: Option<(bool, bool)> = sqlx::query_as(&format!(
            "UPDATE {} SET lease_expires_at = $4, updated_at = $5
             WHERE id = $1 AND owner = $2 AND epoch = $3
             RETURNING cancel_requested <> 0, past_pivot <> 0",
            n.sagas
        ))
        .bind(lease.id.0)
        .bind(owner)
        .bind(lease.epoch)
        .bind(now + ms(ttl))
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((cancel_requested, _)) = fenced else {
            return Err(Error::Fenced(lease.id));
        };
        let there: Option<(String, i64)> = sqlx::query_as(&format!(
            "SELECT kind, epoch FROM {} WHERE saga_id = $1 AND n = $2 AND $2 > 0",
            n.log
        ))
        .bind(lease.id.0)
        .bind(e.n)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((kind, epoch)) = there {
            // Our own entry, committed by an attempt whose answer was lost.
            if kind == e.kind.as_str() && epoch == lease.epoch {
                return Ok(Wrote::Already { cancel_requested });
            }
            return Err(Error::Schema(format!(
                "saga {} entry {} is {kind} at epoch {epoch}, not the {} being appended",
                lease.id,
                e.n,
                e.kind.as_str()
            )));
        }
        if e.gate && cancel_requested {
            return Ok(Wrote::Cancelled);
        }
        let state = e.state.as_ref().map(|s| s.to_string());
        sqlx::query(&format!(
            "UPDATE {} SET status = coalesce($2, status), state = coalesce($3, state),
                 reason = CASE WHEN $2 IS NULL THEN reason ELSE $4 END,
                 past_pivot = past_pivot OR $5
             WHERE id = $1",
            n.sagas
        ))
        .bind(lease.id.0)
        .bind(e.status.map(Status::as_str))
        .bind(&state)
        .bind(&e.error)
        .bind(e.pivot)
        .execute(&mut **tx)
        .await?;
        // After the saga's row (locked above): the outbox's key counters,
        // in key order.
        if with_messages
            && !e.messages.is_empty()
            && let Some(why) = self.enqueue(tx, &e.messages).await?
        {
            return Ok(Wrote::Invalid(why));
        }
        sqlx::query(&format!(
            "INSERT INTO {log} (saga_id, n, kind, step, state, error, epoch, at)
             VALUES ($1, CASE WHEN $2 > 0 THEN $2
                 ELSE (SELECT coalesce(max(n), 0) + 1 FROM {log} WHERE saga_id = $1) END,
                 $3, $4, $5, $6, $7, $8)",
            log = n.log
        ))
        .bind(lease.id.0)
        .bind(e.n)
        .bind(e.kind.as_str())
        .bind(&e.step)
        .bind(&state)
        .bind(&e.error)
        .bind(lease.epoch)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(Wrote::New { cancel_requested })
    }

    /// Enqueues `messages` in `tx`; `Some(reason)`: the outbox refused
    /// one (or there is none) and wrote nothing.
    async fn enqueue(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        messages: &[ballast_outbox::Message],
    ) -> Result<Option<String>, Error> {
        let Some(outbox) = &self.outbox else {
            return Ok(Some(
                "the step sent messages, but the executor has no outbox".into(),
            ));
        };
        match outbox.enqueue_all(tx, messages).await {
            Ok(()) => Ok(None),
            Err(ballast_outbox::EnqueueError::Invalid(why)) => Ok(Some(format!(
                "the outbox refused a message the step sent: {why}"
            ))),
            Err(ballast_outbox::EnqueueError::Database(e)) => Err(e.into()),
        }
    }

    async fn append_(
        &self,
        lease: Lease,
        owner: &str,
        ttl: Duration,
        e: Append,
    ) -> Result<Appended, Error> {
        let mut tx = ballast_outbox::begin_with(&self.pool, "BEGIN IMMEDIATE").await?;
        let wrote = self
            .write_entry(&mut tx, lease, owner, ttl, &e, true)
            .await?;
        if let Wrote::Invalid(_) = wrote {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(wrote.into())
    }

    /// Appends a group of entries of different sagas in one transaction:
    /// saga rows in id order, each entry under a savepoint of its own (a
    /// fenced or failing entry is rolled back alone and answered with its
    /// error), then every written entry's messages in one enqueue (key
    /// counters in key order). `None`: the group failed as a whole
    /// (begin, the messages or the commit); nothing can be assumed
    /// written, and each entry is to be appended alone (appends are
    /// idempotent by their number).
    async fn append_batch_(
        &self,
        owner: &str,
        ttl: Duration,
        batch: &[(Lease, Append)],
    ) -> Option<Vec<Result<Appended, Error>>> {
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by_key(|&i| batch[i].0.id);
        let mut tx = ballast_outbox::begin_with(&self.pool, "BEGIN IMMEDIATE")
            .await
            .ok()?;
        let mut results: Vec<Option<Result<Appended, Error>>> =
            batch.iter().map(|_| None).collect();
        let mut messages = Vec::new();
        for i in order {
            let (lease, e) = &batch[i];
            let mut sp = sqlx::Acquire::begin(&mut tx).await.ok()?;
            let out = self
                .write_entry(&mut sp, *lease, owner, ttl, e, false)
                .await;
            match &out {
                Ok(Wrote::New { .. }) => {
                    sp.commit().await.ok()?;
                    messages.extend(e.messages.iter().cloned());
                }
                Ok(_) => sp.commit().await.ok()?,
                Err(_) => sp.rollback().await.ok()?,
            }
            results[i] = Some(out.map(Appended::from));
        }
        if !messages.is_empty() && !matches!(self.enqueue(&mut tx, &messages).await, Ok(None)) {
            return None;
        }
        tx.commit().await.ok()?;
        results.into_iter().collect()
    }

    async fn renew_(&self, owner: &str, ttl: Duration) -> Result<u64, Error> {
        let r = sqlx::query(&format!(
            "UPDATE {} SET lease_expires_at = $2
             WHERE owner = $1 AND status IN ('running', 'compensating')",
            self.names.sagas
        ))
        .bind(owner)
        .bind(now_ms() + ms(ttl))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    async fn claim_(&self, owner: &str, ttl: Duration, limit: u32) -> Result<Vec<Lease>, Error> {
        let now = now_ms();
        let sagas = &self.names.sagas;
        let mut tx = ballast_outbox::begin_with(&self.pool, "BEGIN IMMEDIATE").await?;
        let rows: Vec<(uuid::Uuid, i64)> = sqlx::query_as(&format!(
            "UPDATE {sagas} SET owner = $1, epoch = epoch + 1, lease_expires_at = $2
             WHERE id IN (
                 SELECT id FROM {sagas}
                 WHERE status IN ('running', 'compensating')
                   AND (owner IS NULL OR lease_expires_at < $3)
                 ORDER BY lease_expires_at LIMIT $4)
             RETURNING id, epoch"
        ))
        .bind(owner)
        .bind(now + ms(ttl))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(id, epoch)| Lease {
                id: SagaId(id),
                epoch,
            })
            .collect())
    }

    async fn release_(&self, owner: &str, only: Option<Lease>) -> Result<(), Error> {
        sqlx::query(&format!(
            "UPDATE {} SET owner = NULL
             WHERE owner = $1 AND ($2 IS NULL OR (id = $2 AND epoch = $3))",
            self.names.sagas
        ))
        .bind(owner)
        .bind(only.map(|l| l.id.0))
        .bind(only.map(|l| l.epoch))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn load_(&self, id: SagaId) -> Result<Option<Loaded>, Error> {
        let n = &self.names;
        let mut tx = ballast_outbox::begin(&self.pool).await?;
        let Some(row) = sqlx::query(&format!(
            "SELECT name, version, status, state, reason, deadline_ms, cancel_requested <> 0 AS cancel
             FROM {} WHERE id = $1",
            n.sagas
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let log = sqlx::query(&format!(
            "SELECT n, kind, step, state, error, epoch, at FROM {} WHERE saga_id = $1 ORDER BY n",
            n.log
        ))
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let log = log
            .into_iter()
            .map(|r| {
                entry(
                    r.get("n"),
                    r.get("kind"),
                    r.get("step"),
                    r.get("state"),
                    r.get("error"),
                    r.get("epoch"),
                    r.get("at"),
                )
            })
            .collect::<Result<_, _>>()?;
        let state: String = row.get("state");
        Ok(Some(Loaded {
            info: SagaInfo {
                id,
                name: row.get("name"),
                version: row.get::<i64, _>("version") as u32,
                status: status(row.get("status"))?,
                state: serde_json::from_str(&state)
                    .map_err(|e| Error::Schema(format!("a saga's state is not JSON: {e}")))?,
                reason: row.get("reason"),
            },
            deadline_ms: row.get("deadline_ms"),
            cancel_requested: row.get("cancel"),
            log,
        }))
    }

    async fn list_(&self, status_: Status, limit: u32) -> Result<Vec<SagaInfo>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT id, name, version, status, state, reason FROM {}
             WHERE status = $1 ORDER BY created_at, id LIMIT $2",
            self.names.sagas
        ))
        .bind(status_.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let state: String = row.get("state");
                Ok(SagaInfo {
                    id: SagaId(row.get("id")),
                    name: row.get("name"),
                    version: row.get::<i64, _>("version") as u32,
                    status: status(row.get("status"))?,
                    state: serde_json::from_str(&state)
                        .map_err(|e| Error::Schema(format!("a saga's state is not JSON: {e}")))?,
                    reason: row.get("reason"),
                })
            })
            .collect()
    }

    async fn decide_(
        &self,
        id: SagaId,
        decision: Decision,
        operator: &str,
    ) -> Result<(), DecisionError> {
        let n = &self.names;
        let now = now_ms();
        let mut tx = ballast_outbox::begin_with(&self.pool, "BEGIN IMMEDIATE").await?;
        // Only from a status the decision applies to; the epoch bump
        // fences whoever held the saga before.
        let epoch: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE {sagas} SET status = {new}, reason = $2, owner = NULL, epoch = epoch + 1,
                 lease_expires_at = 0, updated_at = $3
             WHERE id = $1 AND status IN ({from})
             RETURNING epoch",
            sagas = n.sagas,
            new = decided_status(decision, &n.log),
            from = applies_to(decision),
        ))
        .bind(id.0)
        .bind(decided_reason(decision, operator))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(epoch) = epoch else {
            let row: Option<String> =
                sqlx::query_scalar(&format!("SELECT status FROM {} WHERE id = $1", n.sagas))
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(refused_decision(id, decision, row));
        };
        sqlx::query(&format!(
            "INSERT INTO {log} (saga_id, n, kind, error, epoch, at)
             VALUES ($1, (SELECT coalesce(max(n), 0) + 1 FROM {log} WHERE saga_id = $1), $2, $3, $4, $5)",
            log = n.log
        ))
        .bind(id.0)
        .bind(Kind::OperatorDecision.as_str())
        .bind(decision.entry(operator))
        .bind(epoch)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn cancel_(&self, id: SagaId) -> Result<(), CancelError> {
        let sagas = &self.names.sagas;
        let store = |e: sqlx::Error| CancelError::Store(Error::Database(e));
        let mut tx = ballast_outbox::begin_with(&self.pool, "BEGIN IMMEDIATE")
            .await
            .map_err(store)?;
        let done = sqlx::query(&format!(
            "UPDATE {sagas} SET cancel_requested = 1
             WHERE id = $1 AND status = 'running' AND past_pivot = 0"
        ))
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(store)?;
        if done.rows_affected() == 1 {
            tx.commit().await.map_err(store)?;
            return Ok(());
        }
        let row: Option<(String, bool)> = sqlx::query_as(&format!(
            "SELECT status, past_pivot <> 0 FROM {sagas} WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store)?;
        Err(refused(id, row))
    }
}

impl Store for SqliteStore {
    fn create(
        &self,
        saga: NewSaga,
        owner: &str,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Lease, Error>> {
        let owner = owner.to_owned();
        Box::pin(async move { self.create_(saga, &owner, ttl).await })
    }

    fn append(
        &self,
        lease: Lease,
        owner: &str,
        ttl: Duration,
        entry: Append,
    ) -> BoxFuture<'_, Result<Appended, Error>> {
        let owner = owner.to_owned();
        Box::pin(async move { self.append_(lease, &owner, ttl, entry).await })
    }

    fn append_batch<'a>(
        &'a self,
        owner: &'a str,
        ttl: Duration,
        batch: &'a [(Lease, Append)],
    ) -> BoxFuture<'a, Option<Vec<Result<Appended, Error>>>> {
        Box::pin(self.append_batch_(owner, ttl, batch))
    }

    fn renew(&self, owner: &str, ttl: Duration) -> BoxFuture<'_, Result<u64, Error>> {
        let owner = owner.to_owned();
        Box::pin(async move { self.renew_(&owner, ttl).await })
    }

    fn claim(
        &self,
        owner: &str,
        ttl: Duration,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Lease>, Error>> {
        let owner = owner.to_owned();
        Box::pin(async move { self.claim_(&owner, ttl, limit).await })
    }

    fn release(&self, owner: &str, only: Option<Lease>) -> BoxFuture<'_, Result<(), Error>> {
        let owner = owner.to_owned();
        Box::pin(async move { self.release_(&owner, only).await })
    }

    fn load(&self, id: SagaId) -> BoxFuture<'_, Result<Option<Loaded>, Error>> {
        Box::pin(self.load_(id))
    }

    fn cancel(&self, id: SagaId) -> BoxFuture<'_, Result<(), CancelError>> {
        Box::pin(self.cancel_(id))
    }

    fn list(&self, status: Status, limit: u32) -> BoxFuture<'_, Result<Vec<SagaInfo>, Error>> {
        Box::pin(self.list_(status, limit))
    }

    fn decide(
        &self,
        id: SagaId,
        decision: Decision,
        operator: &str,
    ) -> BoxFuture<'_, Result<(), DecisionError>> {
        let operator = operator.to_owned();
        Box::pin(async move { self.decide_(id, decision, &operator).await })
    }
}

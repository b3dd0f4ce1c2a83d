//! The saga log's SQL for PostgreSQL.
//!
//! The fencing update of an append locks the saga's row until the append
//! commits, so a takeover (which bumps the epoch on that row) is ordered
//! before or after it, never in between. Leases use the server's clock
//! (`now()`), so executors on different machines agree on expiry; deadlines
//! and log times are Unix milliseconds like SQLite's.

use super::{
    Append, Appended, Lease, Loaded, Names, NewSaga, Store, Wrote, applies_to, decided_reason,
    decided_status, entry, ms, now_ms, refused, refused_decision, status,
};
use crate::operator::Decision;
use crate::saga::{Kind, SagaId, SagaInfo, Status};
use crate::{CancelError, Config, DecisionError, Error};
use futures::future::BoxFuture;
use sqlx::{Pool, Postgres, Row as _, Transaction};
use std::time::Duration;

/// The PostgreSQL store.
#[derive(Debug)]
pub(crate) struct PgStore {
    pool: Pool<Postgres>,
    names: Names,
    /// Where the messages steps send are enqueued (the same database).
    outbox: Option<ballast_outbox::Outbox<Postgres>>,
}

fn steps(n: &Names) -> Vec<String> {
    let Names {
        sagas, log, index, ..
    } = n;
    vec![format!(
        "CREATE TABLE {sagas} (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            version integer NOT NULL,
            status text NOT NULL,
            state jsonb NOT NULL,
            reason text,
            owner text,
            epoch bigint NOT NULL DEFAULT 0,
            lease_expires_at timestamptz NOT NULL DEFAULT '-infinity',
            deadline_ms bigint,
            cancel_requested boolean NOT NULL DEFAULT false,
            past_pivot boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX {index}_active ON {sagas} (lease_expires_at)
            WHERE status IN ('running', 'compensating');
        CREATE TABLE {log} (
            saga_id uuid NOT NULL REFERENCES {sagas} (id),
            n bigint NOT NULL,
            kind text NOT NULL,
            step text,
            state jsonb,
            error text,
            epoch bigint NOT NULL,
            at bigint NOT NULL,
            PRIMARY KEY (saga_id, n)
        );"
    )]
}

impl PgStore {
    pub async fn open(pool: Pool<Postgres>, config: &Config) -> Result<Self, Error> {
        if let Some(schema) = &config.schema {
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&pool)
                .await?;
        }
        let names = Names::new(config);
        ballast_outbox::migrations::postgres(&pool, &names.version, &steps(&names))
            .await
            .map_err(Error::from_migration)?;
        Ok(PgStore {
            pool,
            names,
            outbox: None,
        })
    }

    /// Enqueues the messages steps send through `outbox`.
    pub fn with_outbox(mut self, outbox: ballast_outbox::Outbox<Postgres>) -> Self {
        self.outbox = Some(outbox);
        self
    }

    async fn create_(&self, saga: NewSaga, owner: &str, ttl: Duration) -> Result<Lease, Error> {
        let n = &self.names;
        let now = now_ms();
        let state = saga.state.to_string();
        let mut tx = ballast_outbox::begin(&self.pool).await?;
        sqlx::query(&format!(
            "INSERT INTO {} (id, name, version, status, state, owner, epoch, lease_expires_at, deadline_ms)
             VALUES ($1, $2, $3, 'running', $4::jsonb, $5, 1, now() + $6 * interval '1 millisecond', $7)",
            n.sagas
        ))
        .bind(saga.id.0)
        .bind(&saga.name)
        .bind(saga.version as i32)
        .bind(&state)
        .bind(owner)
        .bind(ms(ttl))
        .bind(saga.deadline_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO {} (saga_id, n, kind, state, epoch, at) VALUES ($1, 1, $2, $3::jsonb, 1, $4)",
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
    /// ambiguous), the row's changes, the messages and
    /// the entry. `Err(Fenced)`: nothing was changed.
    async fn write_entry(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        lease: Lease,
        owner: &str,
        ttl: Duration,
        e: &Append,
    ) -> Result<Wrote, Error> {
        let n = &self.names;
        let now = now_ms();
        let fenced: Option<(bool, bool)> = sqlx::query_as(&format!(
            "UPDATE {} SET lease_expires_at = now() + $4 * interval '1 millisecond', updated_at = now()
             WHERE id = $1 AND owner = $2 AND epoch = $3
             RETURNING cancel_requested, past_pivot",
            n.sagas
        ))
        .bind(lease.id.0)
        .bind(owner)
        .bind(lease.epoch)
        .bind(ms(ttl))
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
            "UPDATE {} SET status = coalesce($2, status), state = coalesce($3::jsonb, state),
                 reason = CASE WHEN $2::text IS NULL THEN reason ELSE $4 END,
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
        if !e.messages.is_empty()
            && let Some(why) = self.enqueue(tx, &e.messages).await?
        {
            return Ok(Wrote::Invalid(why));
        }
        sqlx::query(&format!(
            "INSERT INTO {log} (saga_id, n, kind, step, state, error, epoch, at)
             VALUES ($1, CASE WHEN $2 > 0 THEN $2
                 ELSE (SELECT coalesce(max(n), 0) + 1 FROM {log} WHERE saga_id = $1) END,
                 $3, $4, $5::jsonb, $6, $7, $8)",
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
        tx: &mut Transaction<'_, Postgres>,
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
        let mut tx = ballast_outbox::begin(&self.pool).await?;
        let wrote = self.write_entry(&mut tx, lease, owner, ttl, &e).await?;
        if let Wrote::Invalid(_) = wrote {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(wrote.into())
    }

    /// Appends a group of entries of different sagas in one transaction
    /// and one statement (a round trip per group, not five per entry: the
    /// writer is one task on one connection, so round trips bound the
    /// rate). The statement locks the fenced saga rows in id order, skips
    /// each entry that is already in the log (an earlier try committed it)
    /// or gated by a cancel, updates the rows and inserts the entries; it
    /// answers each entry on its own: a fenced one changes nothing and the
    /// others commit. Then every written entry's messages in one enqueue
    /// (key counters in key order, after the saga rows). `None`: the group
    /// failed as a whole (begin, the statement, the messages or the
    /// commit); nothing can be assumed written, and each entry is to be
    /// appended alone (appends are idempotent by their number).
    ///
    /// Unlike an append alone, a group does not extend the leases (the
    /// executor's tick renews them): `lease_expires_at` is indexed, so
    /// setting it made every entry's row update a non-HOT one, with new
    /// index entries; without it the executor's rate with 1,000 sagas in
    /// flight rose by about 40% in the throughput bench.
    async fn append_batch_(
        &self,
        owner: &str,
        _ttl: Duration,
        batch: &[(Lease, Append)],
    ) -> Option<Vec<Result<Appended, Error>>> {
        let n = &self.names;
        let col = |f: &dyn Fn(&Lease, &Append) -> Option<String>| -> Vec<Option<String>> {
            batch.iter().map(|(l, e)| f(l, e)).collect()
        };
        let ids: Vec<uuid::Uuid> = batch.iter().map(|(l, _)| l.id.0).collect();
        let epochs: Vec<i64> = batch.iter().map(|(l, _)| l.epoch).collect();
        let numbers: Vec<i64> = batch.iter().map(|(_, e)| e.n).collect();
        let kinds = col(&|_, e| Some(e.kind.as_str().to_owned()));
        let steps = col(&|_, e| e.step.clone());
        let states = col(&|_, e| e.state.as_ref().map(|v| v.to_string()));
        let errors = col(&|_, e| e.error.clone());
        let statuses = col(&|_, e| e.status.map(|s| s.as_str().to_owned()));
        let gates: Vec<bool> = batch.iter().map(|(_, e)| e.gate).collect();
        let pivots: Vec<bool> = batch.iter().map(|(_, e)| e.pivot).collect();
        let mut tx = ballast_outbox::begin(&self.pool).await.ok()?;
        // One row per entry, in the batch's order: whether its saga row
        // was fenced in (`live`), the cancel flag, and the kind and epoch
        // of an entry already at its number.
        let rows = sqlx::query(&format!(
            "WITH input AS (
                 SELECT * FROM unnest($2::uuid[], $3::bigint[], $4::bigint[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::bool[], $11::bool[])
                     WITH ORDINALITY
                     AS t(id, epoch, n, kind, step, state, error, status, gate, pivot, i)),
             locked AS (
                 SELECT s.id, s.epoch, s.cancel_requested FROM {sagas} s
                 WHERE s.owner = $1 AND (s.id, s.epoch) IN (SELECT id, epoch FROM input)
                 ORDER BY s.id FOR UPDATE),
             there AS (
                 SELECT i.i, l.kind, l.epoch FROM {log} l JOIN input i
                     ON l.saga_id = i.id AND l.n = i.n AND i.n > 0),
             go AS (
                 SELECT i.* FROM input i JOIN locked k ON k.id = i.id AND k.epoch = i.epoch
                 WHERE NOT EXISTS (SELECT 1 FROM there t WHERE t.i = i.i)
                   AND NOT (i.gate AND k.cancel_requested)),
             changed AS (
                 UPDATE {sagas} s SET
                     updated_at = now(),
                     status = coalesce(g.status, s.status),
                     state = coalesce(g.state::jsonb, s.state),
                     reason = CASE WHEN g.status IS NULL THEN s.reason ELSE g.error END,
                     past_pivot = s.past_pivot OR g.pivot
                 FROM go g WHERE s.id = g.id AND s.owner = $1 AND s.epoch = g.epoch),
             written AS (
                 INSERT INTO {log} (saga_id, n, kind, step, state, error, epoch, at)
                 SELECT g.id, CASE WHEN g.n > 0 THEN g.n
                         ELSE (SELECT coalesce(max(n), 0) + 1 FROM {log} WHERE saga_id = g.id) END,
                     g.kind, g.step, g.state::jsonb, g.error, g.epoch, $12
                 FROM go g)
             SELECT k.id IS NOT NULL, coalesce(k.cancel_requested, false), t.kind, t.epoch
             FROM input i LEFT JOIN locked k ON k.id = i.id AND k.epoch = i.epoch
                 LEFT JOIN there t ON t.i = i.i
             ORDER BY i.i",
            sagas = n.sagas,
            log = n.log
        ))
        .bind(owner)
        .bind(&ids)
        .bind(&epochs)
        .bind(&numbers)
        .bind(&kinds)
        .bind(&steps)
        .bind(&states)
        .bind(&errors)
        .bind(&statuses)
        .bind(&gates)
        .bind(&pivots)
        .bind(now_ms())
        .fetch_all(&mut *tx)
        .await
        .ok()?;
        if rows.len() != batch.len() {
            return None;
        }
        let mut messages = Vec::new();
        let mut results = Vec::with_capacity(batch.len());
        for ((lease, e), row) in batch.iter().zip(&rows) {
            let live: bool = row.get(0);
            let cancel_requested: bool = row.get(1);
            let there: Option<(String, i64)> = row.get::<Option<String>, _>(2).zip(row.get(3));
            results.push(match there {
                _ if !live => Err(Error::Fenced(lease.id)),
                Some((kind, epoch)) if kind == e.kind.as_str() && epoch == lease.epoch => {
                    Ok(Appended::Written { cancel_requested })
                }
                Some((kind, epoch)) => Err(Error::Schema(format!(
                    "saga {} entry {} is {kind} at epoch {epoch}, not the {} being appended",
                    lease.id,
                    e.n,
                    e.kind.as_str()
                ))),
                None if e.gate && cancel_requested => Ok(Appended::Cancelled),
                None => {
                    messages.extend(e.messages.iter().cloned());
                    Ok(Appended::Written { cancel_requested })
                }
            });
        }
        if !messages.is_empty() && !matches!(self.enqueue(&mut tx, &messages).await, Ok(None)) {
            return None;
        }
        tx.commit().await.ok()?;
        Some(results)
    }

    async fn renew_(&self, owner: &str, ttl: Duration) -> Result<u64, Error> {
        // Rows locked in id order, as a group commit locks them: the two
        // cannot deadlock.
        let r = sqlx::query(&format!(
            "UPDATE {sagas} SET lease_expires_at = now() + $2 * interval '1 millisecond'
             WHERE id IN (
                 SELECT id FROM {sagas}
                 WHERE owner = $1 AND status IN ('running', 'compensating')
                 ORDER BY id FOR UPDATE)",
            sagas = self.names.sagas
        ))
        .bind(owner)
        .bind(ms(ttl))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    async fn claim_(&self, owner: &str, ttl: Duration, limit: u32) -> Result<Vec<Lease>, Error> {
        let sagas = &self.names.sagas;
        let mut tx = ballast_outbox::begin(&self.pool).await?;
        let rows: Vec<(uuid::Uuid, i64)> = sqlx::query_as(&format!(
            "UPDATE {sagas} SET owner = $1, epoch = epoch + 1,
                 lease_expires_at = now() + $2 * interval '1 millisecond'
             WHERE id IN (
                 SELECT id FROM {sagas}
                 WHERE status IN ('running', 'compensating')
                   AND (owner IS NULL OR lease_expires_at < now())
                 ORDER BY lease_expires_at LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, epoch"
        ))
        .bind(owner)
        .bind(ms(ttl))
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
        // In id order, like renewals and group commits.
        sqlx::query(&format!(
            "UPDATE {sagas} SET owner = NULL
             WHERE id IN (
                 SELECT id FROM {sagas}
                 WHERE owner = $1 AND ($2::uuid IS NULL OR (id = $2 AND epoch = $3))
                 ORDER BY id FOR UPDATE)",
            sagas = self.names.sagas
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
            "SELECT name, version, status, state::text AS state, reason, deadline_ms, cancel_requested AS cancel
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
            "SELECT n, kind, step, state::text AS state, error, epoch, at FROM {} WHERE saga_id = $1 ORDER BY n",
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
                version: row.get::<i32, _>("version") as u32,
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
            "SELECT id, name, version, status, state::text AS state, reason FROM {}
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
                    version: row.get::<i32, _>("version") as u32,
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
        let mut tx = ballast_outbox::begin(&self.pool).await?;
        // Only from a status the decision applies to; the epoch bump
        // fences whoever held the saga before.
        let epoch: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE {sagas} SET status = {new}, reason = $2, owner = NULL, epoch = epoch + 1,
                 lease_expires_at = '-infinity', updated_at = now()
             WHERE id = $1 AND status IN ({from})
             RETURNING epoch",
            sagas = n.sagas,
            new = decided_status(decision, &n.log),
            from = applies_to(decision),
        ))
        .bind(id.0)
        .bind(decided_reason(decision, operator))
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
        let mut tx = ballast_outbox::begin(&self.pool).await.map_err(store)?;
        let done = sqlx::query(&format!(
            "UPDATE {sagas} SET cancel_requested = true
             WHERE id = $1 AND status = 'running' AND NOT past_pivot"
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
            "SELECT status, past_pivot FROM {sagas} WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store)?;
        Err(refused(id, row))
    }
}

impl Store for PgStore {
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

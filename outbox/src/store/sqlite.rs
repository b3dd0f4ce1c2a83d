//! The outbox's SQL for SQLite.
//!
//! SQLite runs one write transaction at a time, so two transactions never
//! commit concurrently and row order is commit order. The relay claims with a
//! plain read (no write lock held while it publishes, so writers are not
//! blocked) and completes the batch in one short write transaction that
//! first checks the lease's owner and epoch. Time is the writer's clock in
//! Unix milliseconds: every process on one SQLite file runs on one machine.

use super::{
    Backend, Backlog, Claimed, CompleteSettings, Completed, DeadLetter, Decision, Lease, Names,
    Outcome, Removed, Row, Store, Wake,
};
use crate::{Config, Error};
use sqlx::{Pool, Row as _, Sqlite, Transaction};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

impl Backend for Sqlite {
    type Store = SqliteStore;
}

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    pool: Pool<Sqlite>,
    names: Names,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn steps(n: &Names) -> Vec<String> {
    let Names {
        outbox,
        keys,
        leases,
        relays,
        held,
        dead,
        published,
        decisions,
        meta,
        index,
        ..
    } = n;
    vec![format!(
        "CREATE TABLE {outbox} (
            id BLOB PRIMARY KEY,
            partition INTEGER NOT NULL,
            key TEXT NOT NULL,
            seq INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            topic TEXT NOT NULL,
            headers TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        CREATE INDEX {index}_claim ON {outbox} (partition, ts);
        CREATE TABLE {keys} (key TEXT PRIMARY KEY, seq INTEGER NOT NULL, ts INTEGER NOT NULL);
        CREATE TABLE {leases} (
            partition INTEGER PRIMARY KEY,
            owner TEXT,
            epoch INTEGER NOT NULL DEFAULT 0,
            expires_at INTEGER NOT NULL DEFAULT 0,
            idle INTEGER NOT NULL DEFAULT 1
        );
        CREATE TABLE {relays} (relay TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
        CREATE TABLE {held} (key TEXT PRIMARY KEY, since INTEGER NOT NULL);
        CREATE TABLE {dead} (
            id BLOB PRIMARY KEY,
            partition INTEGER NOT NULL,
            key TEXT NOT NULL,
            seq INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            topic TEXT NOT NULL,
            headers TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL,
            last_error TEXT,
            dead_at INTEGER NOT NULL
        );
        CREATE INDEX {index}_dead_key ON {dead} (key, ts);
        CREATE TABLE {published} (
            n INTEGER PRIMARY KEY AUTOINCREMENT,
            id BLOB NOT NULL,
            partition INTEGER NOT NULL,
            key TEXT NOT NULL,
            seq INTEGER NOT NULL,
            topic TEXT NOT NULL,
            headers TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            published_at INTEGER NOT NULL,
            relay TEXT NOT NULL,
            epoch INTEGER NOT NULL
        );
        CREATE INDEX {index}_published_at ON {published} (published_at);
        CREATE TABLE {decisions} (
            n INTEGER PRIMARY KEY AUTOINCREMENT,
            at INTEGER NOT NULL,
            action TEXT NOT NULL,
            id BLOB,
            key TEXT,
            by TEXT
        );
        CREATE TABLE {meta} (one INTEGER PRIMARY KEY CHECK (one = 1), partitions INTEGER NOT NULL);"
    )]
}

impl Store for SqliteStore {
    type Db = Sqlite;
    type Batch = ();

    async fn open(pool: Pool<Sqlite>, config: &Config) -> Result<Self, Error> {
        if config.schema.is_some() {
            return Err(Error::Config(ballast_core::ConfigError::new(
                "outbox",
                "schema",
                "SQLite has no schemas; leave it unset",
            )));
        }
        let names = Names::new(config);
        crate::migrations::sqlite(&pool, &names.version, &steps(&names)).await?;
        let mut tx = crate::begin_with(&pool, "BEGIN IMMEDIATE").await?;
        sqlx::query(&format!(
            "INSERT INTO {} (one, partitions) VALUES (1, $1) ON CONFLICT (one) DO NOTHING",
            names.meta
        ))
        .bind(i64::from(config.partitions))
        .execute(&mut *tx)
        .await?;
        let stored: i64 = sqlx::query_scalar(&format!("SELECT partitions FROM {}", names.meta))
            .fetch_one(&mut *tx)
            .await?;
        if stored as u32 != config.partitions {
            return Err(Error::Schema(format!(
                "{} was made with {stored} partitions, this config says {}; keys would move between partitions and lose their order",
                names.outbox, config.partitions
            )));
        }
        for p in 0..stored {
            sqlx::query(&format!(
                "INSERT INTO {} (partition) VALUES ($1) ON CONFLICT (partition) DO NOTHING",
                names.leases
            ))
            .bind(p)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(SqliteStore { pool, names })
    }

    fn pool(&self) -> &Pool<Sqlite> {
        &self.pool
    }

    fn names(&self) -> &Names {
        &self.names
    }

    async fn enqueue<'a>(
        &'a self,
        tx: &'a mut Transaction<'_, Sqlite>,
        rows: &'a [Row],
    ) -> Result<(), sqlx::Error> {
        let n = &self.names;
        let created = now_ms();
        for row in rows {
            let (seq, ts): (i64, i64) = sqlx::query_as(&format!(
                "INSERT INTO {keys} AS k0 (key, seq, ts) VALUES ($1, 1, $2)
                 ON CONFLICT (key) DO UPDATE SET seq = k0.seq + 1, ts = max(excluded.ts, k0.ts + 1)
                 RETURNING seq, ts",
                keys = n.keys
            ))
            .bind(&row.key)
            .bind(row.now_micros)
            .fetch_one(&mut **tx)
            .await?;
            sqlx::query(&format!(
                "INSERT INTO {} (id, partition, key, seq, ts, topic, headers, payload, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                n.outbox
            ))
            .bind(row.id)
            .bind(row.partition)
            .bind(&row.key)
            .bind(seq)
            .bind(ts)
            .bind(&row.topic)
            .bind(&row.headers)
            .bind(&row.payload)
            .bind(created)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    async fn heartbeat(&self, relay: &str, ttl: Duration) -> Result<u32, Error> {
        let n = &self.names;
        let now = now_ms();
        sqlx::query(&format!(
            "INSERT INTO {} (relay, expires_at) VALUES ($1, $2)
             ON CONFLICT (relay) DO UPDATE SET expires_at = excluded.expires_at",
            n.relays
        ))
        .bind(relay)
        .bind(now.saturating_add(ms(ttl)))
        .execute(&self.pool)
        .await?;
        sqlx::query(&format!("DELETE FROM {} WHERE expires_at < $1", n.relays))
            .bind(now)
            .execute(&self.pool)
            .await?;
        let live: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", n.relays))
            .fetch_one(&self.pool)
            .await?;
        Ok(live.max(1) as u32)
    }

    async fn held(&self, relay: &str) -> Result<Vec<Lease>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT partition, epoch FROM {} WHERE owner = $1 ORDER BY partition",
            self.names.leases
        ))
        .bind(relay)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Lease {
                partition: r.get::<i64, _>(0) as i32,
                epoch: r.get(1),
            })
            .collect())
    }

    async fn renew(&self, relay: &str, ttl: Duration) -> Result<(), Error> {
        sqlx::query(&format!(
            "UPDATE {} SET expires_at = $2 WHERE owner = $1",
            self.names.leases
        ))
        .bind(relay)
        .bind(now_ms().saturating_add(ms(ttl)))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn acquire(&self, relay: &str, n: u32, ttl: Duration) -> Result<Vec<Lease>, Error> {
        let now = now_ms();
        let rows = sqlx::query(&format!(
            "UPDATE {l} SET owner = $1, epoch = epoch + 1, idle = 0, expires_at = $4
             WHERE partition IN (
                 SELECT partition FROM {l} WHERE owner IS NULL OR expires_at < $3
                 ORDER BY partition LIMIT $2)
             RETURNING partition, epoch",
            l = self.names.leases
        ))
        .bind(relay)
        .bind(i64::from(n))
        .bind(now)
        .bind(now.saturating_add(ms(ttl)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Lease {
                partition: r.get::<i64, _>(0) as i32,
                epoch: r.get(1),
            })
            .collect())
    }

    async fn release(&self, relay: &str, lease: Lease) -> Result<bool, Error> {
        let released = sqlx::query(&format!(
            "UPDATE {} SET owner = NULL, expires_at = 0, idle = 1
             WHERE partition = $1 AND owner = $2 AND epoch = $3",
            self.names.leases
        ))
        .bind(lease.partition)
        .bind(relay)
        .bind(lease.epoch)
        .execute(&self.pool)
        .await?;
        Ok(released.rows_affected() == 1)
    }

    async fn leave(&self, relay: &str) -> Result<(), Error> {
        sqlx::query(&format!(
            "UPDATE {} SET owner = NULL, expires_at = 0, idle = 1 WHERE owner = $1",
            self.names.leases
        ))
        .bind(relay)
        .execute(&self.pool)
        .await?;
        sqlx::query(&format!(
            "DELETE FROM {} WHERE relay = $1",
            self.names.relays
        ))
        .bind(relay)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim(
        &self,
        relay: &str,
        lease: Lease,
        limit: u32,
        ttl: Duration,
        // Always from the front: SQLite frees a deleted row's index entry
        // at once (no MVCC versions), so the front holds no dead entries to
        // walk, and the key's oldest row goes first.
        _from: Option<i64>,
        _removed: &Removed,
    ) -> Result<Option<((), Vec<Claimed>)>, Error> {
        let n = &self.names;
        let renewed = sqlx::query(&format!(
            "UPDATE {} SET expires_at = $4 WHERE partition = $1 AND owner = $2 AND epoch = $3",
            n.leases
        ))
        .bind(lease.partition)
        .bind(relay)
        .bind(lease.epoch)
        .bind(now_ms().saturating_add(ms(ttl)))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if renewed == 0 {
            return Err(Error::Fenced {
                partition: lease.partition as u32,
                epoch: lease.epoch,
            });
        }
        let rows = sqlx::query(&format!(
            "SELECT id, key, seq, topic, headers, payload, attempts, ts FROM {outbox} o
             WHERE partition = $1 AND NOT EXISTS (SELECT 1 FROM {held} h WHERE h.key = o.key)
             ORDER BY ts LIMIT $2",
            outbox = n.outbox,
            held = n.held
        ))
        .bind(lease.partition)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some((
            (),
            rows.iter()
                .map(|r| Claimed {
                    id: r.get(0),
                    key: r.get(1),
                    seq: r.get(2),
                    topic: r.get(3),
                    headers: r.get(4),
                    payload: r.get(5),
                    attempts: r.get::<i64, _>(6) as i32,
                    ts: r.get(7),
                    after_waiting: false,
                })
                .collect(),
        )))
    }

    async fn horizon(&self) -> Result<Option<i64>, Error> {
        // Claims read from the front.
        Ok(None)
    }

    async fn has_work(&self, partition: i32, _from: Option<i64>) -> Result<bool, Error> {
        let found: bool = sqlx::query_scalar(&self.names.has_work_sql())
            .bind(partition)
            .fetch_one(&self.pool)
            .await?;
        Ok(found)
    }

    async fn complete(
        &self,
        _batch: (),
        lease: Lease,
        outcome: Outcome,
        settings: &CompleteSettings,
    ) -> Result<Completed, Error> {
        let n = &self.names;
        let now = now_ms();
        let mut done = Completed::default();
        // The lease check is the first write, so the transaction holds the
        // write lock from it to the commit: no takeover can slip between.
        let mut tx = crate::begin_with(&self.pool, "BEGIN IMMEDIATE").await?;
        let owned = sqlx::query(&format!(
            "UPDATE {} SET idle = 0 WHERE partition = $1 AND owner = $2 AND epoch = $3",
            n.leases
        ))
        .bind(lease.partition)
        .bind(&settings.relay)
        .bind(lease.epoch)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if owned == 0 {
            return Err(Error::Fenced {
                partition: lease.partition as u32,
                epoch: lease.epoch,
            });
        }
        for id in &outcome.acked {
            if settings.keep_published {
                sqlx::query(&format!(
                    "INSERT INTO {published} (id, partition, key, seq, topic, headers, payload, created_at, published_at, relay, epoch)
                     SELECT id, partition, key, seq, topic, headers, payload, created_at, $2, $3, $4 FROM {outbox} WHERE id = $1",
                    published = n.published,
                    outbox = n.outbox
                ))
                .bind(id)
                .bind(now)
                .bind(&settings.relay)
                .bind(lease.epoch)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(&format!("DELETE FROM {} WHERE id = $1", n.outbox))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for (id, why) in &outcome.refused {
            let row = sqlx::query(&format!(
                "UPDATE {} SET attempts = attempts + 1, last_error = $2 WHERE id = $1 RETURNING attempts, key",
                n.outbox
            ))
            .bind(id)
            .bind(why)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { continue };
            let (attempts, key): (i64, String) = (row.get(0), row.get(1));
            if attempts < i64::from(settings.max_attempts) {
                continue;
            }
            sqlx::query(&format!(
                "INSERT INTO {dead} (id, partition, key, seq, ts, topic, headers, payload, created_at, attempts, last_error, dead_at)
                 SELECT id, partition, key, seq, ts, topic, headers, payload, created_at, attempts, last_error, $2 FROM {outbox} WHERE id = $1",
                dead = n.dead,
                outbox = n.outbox
            ))
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(&format!("DELETE FROM {} WHERE id = $1", n.outbox))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if settings.hold_key {
                sqlx::query(&format!(
                    "INSERT INTO {} (key, since) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                    n.held
                ))
                .bind(&key)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            log(&mut tx, n, "dead-lettered", *id, &key, &settings.relay).await?;
            done.dead_lettered.push((*id, key));
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn purge_published(&self, age: Duration) -> Result<u64, Error> {
        let done = sqlx::query(&format!(
            "DELETE FROM {} WHERE published_at < $1",
            self.names.published
        ))
        .bind(now_ms().saturating_sub(ms(age)))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn backlog(&self) -> Result<Backlog, Error> {
        let n = &self.names;
        let now = now_ms();
        let rows = sqlx::query(&format!(
            "SELECT partition, count(*), min(created_at) FROM {} GROUP BY partition ORDER BY partition",
            n.outbox
        ))
        .fetch_all(&self.pool)
        .await?;
        let (dead, held): (i64, i64) = sqlx::query_as(&format!(
            "SELECT (SELECT count(*) FROM {}), (SELECT count(*) FROM {})",
            n.dead, n.held
        ))
        .fetch_one(&self.pool)
        .await?;
        Ok(Backlog::from_rows(
            rows.iter().map(|r| {
                let (partition, messages, oldest): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
                let age = Duration::from_millis(now.saturating_sub(oldest).max(0) as u64);
                (partition as u32, messages as u64, age)
            }),
            dead as u64,
            held as u64,
        ))
    }

    async fn dead_letters(&self, key: Option<&str>, limit: u32) -> Result<Vec<DeadLetter>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT id, key, seq, topic, attempts, last_error, length(payload), created_at, dead_at
             FROM {} WHERE $1 IS NULL OR key = $1 ORDER BY key, ts LIMIT $2",
            self.names.dead
        ))
        .bind(key)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| DeadLetter {
                id: r.get(0),
                key: r.get(1),
                seq: r.get(2),
                topic: r.get(3),
                attempts: r.get::<i64, _>(4) as i32,
                last_error: r.get(5),
                payload_bytes: r.get(6),
                enqueued_at_ms: r.get(7),
                dead_at_ms: r.get(8),
            })
            .collect())
    }

    async fn retry_dead(&self, id: Uuid, by: &str) -> Result<String, Error> {
        let n = &self.names;
        let mut tx = crate::begin_with(&self.pool, "BEGIN IMMEDIATE").await?;
        let key: Option<String> = sqlx::query_scalar(&format!(
            "INSERT INTO {outbox} (id, partition, key, seq, ts, topic, headers, payload, created_at, attempts, last_error)
             SELECT id, partition, key, seq, ts, topic, headers, payload, created_at, 0, last_error FROM {dead} WHERE id = $1
             RETURNING key",
            dead = n.dead,
            outbox = n.outbox
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let key = key.ok_or(Error::NotFound(id))?;
        sqlx::query(&format!("DELETE FROM {} WHERE id = $1", n.dead))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        settle(&mut tx, n, "retry", id, &key, by).await?;
        tx.commit().await?;
        Ok(key)
    }

    async fn purge_dead(&self, id: Uuid, by: &str) -> Result<String, Error> {
        let n = &self.names;
        let mut tx = crate::begin_with(&self.pool, "BEGIN IMMEDIATE").await?;
        let key: Option<String> = sqlx::query_scalar(&format!(
            "DELETE FROM {} WHERE id = $1 RETURNING key",
            n.dead
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let key = key.ok_or(Error::NotFound(id))?;
        settle(&mut tx, n, "purge", id, &key, by).await?;
        tx.commit().await?;
        Ok(key)
    }

    async fn decisions(&self, limit: u32) -> Result<Vec<Decision>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT at, action, id, key, by FROM {} ORDER BY n DESC LIMIT $1",
            self.names.decisions
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Decision {
                at_ms: r.get(0),
                action: r.get(1),
                id: r.get(2),
                key: r.get(3),
                by: r.get(4),
            })
            .collect())
    }

    async fn listen(&self, _wake: Wake) {
        std::future::pending::<()>().await
    }
}

/// Releases the key's hold once no dead letter of it is left, and logs the
/// decision.
async fn settle(
    tx: &mut Transaction<'_, Sqlite>,
    n: &Names,
    action: &str,
    id: Uuid,
    key: &str,
    by: &str,
) -> Result<(), Error> {
    sqlx::query(&format!(
        "DELETE FROM {held} WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM {dead} WHERE key = $1)",
        held = n.held,
        dead = n.dead
    ))
    .bind(key)
    .execute(&mut **tx)
    .await?;
    log(tx, n, action, id, key, by).await
}

async fn log(
    tx: &mut Transaction<'_, Sqlite>,
    n: &Names,
    action: &str,
    id: Uuid,
    key: &str,
    by: &str,
) -> Result<(), Error> {
    sqlx::query(&format!(
        "INSERT INTO {} (at, action, id, key, by) VALUES ($1, $2, $3, $4, $5)",
        n.decisions
    ))
    .bind(now_ms())
    .bind(action)
    .bind(id)
    .bind(key)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

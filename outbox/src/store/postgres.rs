//! The outbox's SQL for PostgreSQL.
//!
//! Claims run in a transaction that first renews the partition's lease row
//! (`UPDATE .. WHERE owner AND epoch`), so the lease row stays locked until
//! the batch commits: a relay taking the partition over waits for (or
//! skips) that lock, and can never claim rows a stopped owner still has
//! locked. Every write of the batch is in that transaction, fenced by it.

use super::{
    Backend, Backlog, Claimed, CompleteSettings, Completed, DeadLetter, Decision, Lease, Names,
    Outcome, Removed, Row, Store, Wake,
};
use crate::{Config, Error};
use sqlx::{Pool, Postgres, Row as _, Transaction};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use uuid::Uuid;

impl Backend for Postgres {
    type Store = PgStore;
}

/// The PostgreSQL store.
#[derive(Debug)]
pub struct PgStore {
    pool: Pool<Postgres>,
    names: Names,
}

/// The server's clock in microseconds since the epoch: every stamp
/// PostgreSQL gives a message.
const CLOCK_MICROS: &str = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

/// Oldest stamps first through the (partition, ts) index, from the
/// relay's floor (the index scan starts there, past the dead entries
/// below it); a key held behind a dead letter is left out whole.
///
/// Binds: `$1` partition, `$2` limit, `$3` floor (NULL: from the front).
fn claim_sql(n: &Names) -> String {
    format!(
        "SELECT id, key, seq, topic, headers, payload, attempts, ts
         FROM {outbox} o
         WHERE partition = $1 AND ts >= COALESCE($3::bigint, '{min}'::bigint)
           AND NOT EXISTS (SELECT 1 FROM {held} h WHERE h.key = o.key)
         ORDER BY ts LIMIT $2 FOR UPDATE OF o SKIP LOCKED",
        outbox = n.outbox,
        held = n.held,
        min = i64::MIN,
    )
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl PgStore {
    /// Sets each claimed row's `after_waiting`: is its key's previous
    /// message still in the outbox? Claimed in this batch: yes (the relay
    /// publishes it first). Known removed by this relay (`removed`): no.
    /// The rest are looked up in one statement, a lookup of the (key, seq)
    /// index per row (a LATERAL join, which PostgreSQL cannot turn into a
    /// hash of the whole index, as it did with a per-row EXISTS). In the
    /// claim's transaction, after its read: a successor that is committed
    /// had its predecessor committed first, so a later snapshot sees it.
    async fn mark_waiting(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        rows: &mut [Claimed],
        removed: &Removed,
    ) -> Result<(), Error> {
        let in_batch: HashSet<(&str, i64)> = rows.iter().map(|r| (r.key.as_str(), r.seq)).collect();
        let mut ask_keys: Vec<String> = Vec::new();
        let mut ask_seqs: Vec<i64> = Vec::new();
        // Per row: Some(answer) when known here, None when asked.
        let mut waiting: Vec<Option<bool>> = Vec::with_capacity(rows.len());
        for r in rows.iter() {
            let before = r.seq - 1;
            if in_batch.contains(&(r.key.as_str(), before)) {
                waiting.push(Some(true));
            } else if removed.covers(&r.key, r.seq) {
                waiting.push(Some(false));
            } else {
                ask_keys.push(r.key.clone());
                ask_seqs.push(before);
                waiting.push(None);
            }
        }
        let mut still: HashSet<(String, i64)> = HashSet::new();
        if !ask_keys.is_empty() {
            let found = sqlx::query(&format!(
                "SELECT u.k, u.s FROM unnest($1::text[], $2::bigint[]) AS u(k, s)
                 CROSS JOIN LATERAL (SELECT 1 FROM {} p WHERE p.key = u.k AND p.seq = u.s LIMIT 1) x",
                self.names.outbox
            ))
            .bind(&ask_keys)
            .bind(&ask_seqs)
            .fetch_all(&mut **tx)
            .await?;
            still = found.iter().map(|r| (r.get(0), r.get(1))).collect();
        }
        for (r, known) in rows.iter_mut().zip(waiting) {
            r.after_waiting = known.unwrap_or_else(|| still.contains(&(r.key.clone(), r.seq - 1)));
        }
        Ok(())
    }
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
    vec![
        format!(
            "CREATE TABLE {outbox} (
            id uuid PRIMARY KEY,
            partition integer NOT NULL,
            key text NOT NULL,
            seq bigint NOT NULL,
            ts bigint NOT NULL,
            topic text NOT NULL,
            headers text NOT NULL,
            payload bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            attempts integer NOT NULL DEFAULT 0,
            last_error text
        );
        CREATE INDEX {index}_claim ON {outbox} (partition, ts);
        CREATE TABLE {keys} (key text PRIMARY KEY, seq bigint NOT NULL, ts bigint NOT NULL);
        CREATE TABLE {leases} (
            partition integer PRIMARY KEY,
            owner text,
            epoch bigint NOT NULL DEFAULT 0,
            expires_at timestamptz NOT NULL DEFAULT '-infinity',
            idle boolean NOT NULL DEFAULT true
        );
        CREATE TABLE {relays} (relay text PRIMARY KEY, expires_at timestamptz NOT NULL);
        CREATE TABLE {held} (key text PRIMARY KEY, since timestamptz NOT NULL DEFAULT now());
        CREATE TABLE {dead} (
            id uuid PRIMARY KEY,
            partition integer NOT NULL,
            key text NOT NULL,
            seq bigint NOT NULL,
            ts bigint NOT NULL,
            topic text NOT NULL,
            headers text NOT NULL,
            payload bytea NOT NULL,
            created_at timestamptz NOT NULL,
            attempts integer NOT NULL,
            last_error text,
            dead_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX {index}_dead_key ON {dead} (key, ts);
        CREATE TABLE {published} (
            n bigserial PRIMARY KEY,
            id uuid NOT NULL,
            partition integer NOT NULL,
            key text NOT NULL,
            seq bigint NOT NULL,
            topic text NOT NULL,
            headers text NOT NULL,
            payload bytea NOT NULL,
            created_at timestamptz NOT NULL,
            published_at timestamptz NOT NULL DEFAULT now(),
            relay text NOT NULL,
            epoch bigint NOT NULL
        );
        CREATE INDEX {index}_published_at ON {published} (published_at);
        CREATE TABLE {decisions} (
            n bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            action text NOT NULL,
            id uuid,
            key text,
            by text
        );
        CREATE TABLE {meta} (one integer PRIMARY KEY CHECK (one = 1), partitions integer NOT NULL);"
        ),
        // Version 2: the claim asks, for each row, whether its key's
        // previous message is still waiting; this makes that an exact probe
        // (it meets at most that one row's index entries, live or dead, so
        // it does not crawl under a held transaction). Every writer keeps
        // (key, seq) unique: the key's counter hands each seq out once, and
        // a dead letter put back keeps its own.
        format!("CREATE UNIQUE INDEX {index}_key_seq ON {outbox} (key, seq);"),
    ]
}

impl Store for PgStore {
    type Db = Postgres;
    type Batch = Transaction<'static, Postgres>;

    async fn open(pool: Pool<Postgres>, config: &Config) -> Result<Self, Error> {
        let names = Names::new(config);
        if let Some(schema) = &config.schema {
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&pool)
                .await?;
        }
        crate::migrations::postgres(&pool, &names.version, &steps(&names)).await?;
        let mut tx = crate::begin(&pool).await?;
        sqlx::query(&format!(
            "INSERT INTO {} (one, partitions) VALUES (1, $1) ON CONFLICT (one) DO NOTHING",
            names.meta
        ))
        .bind(config.partitions as i32)
        .execute(&mut *tx)
        .await?;
        let stored: i32 = sqlx::query_scalar(&format!("SELECT partitions FROM {}", names.meta))
            .fetch_one(&mut *tx)
            .await?;
        if stored as u32 != config.partitions {
            return Err(Error::Schema(format!(
                "{} was made with {stored} partitions, this config says {}; keys would move between partitions and lose their order",
                names.outbox, config.partitions
            )));
        }
        sqlx::query(&format!(
            "INSERT INTO {} (partition) SELECT generate_series(0, $1 - 1) ON CONFLICT (partition) DO NOTHING",
            names.leases
        ))
        .bind(stored)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(PgStore { pool, names })
    }

    fn pool(&self) -> &Pool<Postgres> {
        &self.pool
    }

    fn names(&self) -> &Names {
        &self.names
    }

    async fn enqueue<'a>(
        &'a self,
        tx: &'a mut Transaction<'_, Postgres>,
        rows: &'a [Row],
    ) -> Result<(), sqlx::Error> {
        let n = &self.names;
        if let [row] = rows {
            // One statement: bump the key's counter (its row lock orders
            // same-key writers by commit), insert the message with the
            // counter's values, and notify only if the partition's relay is
            // idle (a NOTIFY serialises committing writers; a busy relay
            // does not need it). The stamp is the server's clock, read
            // after this transaction locked the counter table: what the
            // relay's horizon relies on (`horizon`).
            sqlx::query(&format!(
                "WITH k AS (
                    INSERT INTO {keys} AS k0 (key, seq, ts) VALUES ($3, 1, {clock})
                    ON CONFLICT (key) DO UPDATE SET seq = k0.seq + 1, ts = GREATEST(excluded.ts, k0.ts + 1)
                    RETURNING seq, ts
                 ), i AS (
                    INSERT INTO {outbox} (id, partition, key, seq, ts, topic, headers, payload)
                    SELECT $1, $2, $3, k.seq, k.ts, $4, $5, $6 FROM k
                 )
                 SELECT pg_notify($7, $2::text) FROM {leases} WHERE partition = $2 AND idle",
                keys = n.keys,
                outbox = n.outbox,
                leases = n.leases,
                clock = CLOCK_MICROS,
            ))
            .bind(row.id)
            .bind(row.partition)
            .bind(&row.key)
            .bind(&row.topic)
            .bind(&row.headers)
            .bind(&row.payload)
            .bind(&n.channel)
            .execute(&mut **tx)
            .await?;
            return Ok(());
        }
        // Count per key, keys in sorted order so two batches lock key rows
        // in the same order and cannot deadlock each other.
        let mut counts: Vec<(&str, i64)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for row in rows {
            match index.get(row.key.as_str()) {
                Some(&i) => counts[i].1 += 1,
                None => {
                    index.insert(&row.key, counts.len());
                    counts.push((&row.key, 1));
                }
            }
        }
        counts.sort_unstable();
        let keys: Vec<&str> = counts.iter().map(|c| c.0).collect();
        let ns: Vec<i64> = counts.iter().map(|c| c.1).collect();
        // A key with n messages gets seq old+1..=old+n and stamps
        // base..base+n-1, base = max(the server's clock, old stamp + 1);
        // the row keeps the last of each.
        let bumped = sqlx::query(&format!(
            "INSERT INTO {keys} AS k0 (key, seq, ts)
             SELECT k, n, {clock} + n - 1 FROM unnest($1::text[], $2::bigint[]) AS u(k, n) ORDER BY k
             ON CONFLICT (key) DO UPDATE SET seq = k0.seq + excluded.seq, ts = GREATEST(excluded.ts, k0.ts + excluded.seq)
             RETURNING key, seq, ts",
            keys = n.keys,
            clock = CLOCK_MICROS,
        ))
        .bind(&keys)
        .bind(&ns)
        .fetch_all(&mut **tx)
        .await?;
        // Next (seq, ts) to hand out per key.
        let mut next: HashMap<String, (i64, i64)> = HashMap::with_capacity(bumped.len());
        for r in &bumped {
            let key: String = r.get(0);
            let (seq, ts): (i64, i64) = (r.get(1), r.get(2));
            let count = counts[counts
                .binary_search_by(|c| c.0.cmp(key.as_str()))
                .unwrap_or(0)]
            .1;
            next.insert(key, (seq - count + 1, ts - count + 1));
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut parts = Vec::with_capacity(rows.len());
        let mut ks = Vec::with_capacity(rows.len());
        let mut seqs = Vec::with_capacity(rows.len());
        let mut stamps = Vec::with_capacity(rows.len());
        let mut topics = Vec::with_capacity(rows.len());
        let mut headers = Vec::with_capacity(rows.len());
        let mut payloads: Vec<&[u8]> = Vec::with_capacity(rows.len());
        for row in rows {
            let slot = next.get_mut(&row.key).ok_or_else(|| {
                sqlx::Error::Protocol(format!("key {:?} missing from the counter update", row.key))
            })?;
            ids.push(row.id);
            parts.push(row.partition);
            ks.push(row.key.as_str());
            seqs.push(slot.0);
            stamps.push(slot.1);
            *slot = (slot.0 + 1, slot.1 + 1);
            topics.push(row.topic.as_str());
            headers.push(row.headers.as_str());
            payloads.push(&row.payload);
        }
        sqlx::query(&format!(
            "INSERT INTO {} (id, partition, key, seq, ts, topic, headers, payload)
             SELECT * FROM unnest($1::uuid[], $2::integer[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::bytea[])",
            n.outbox
        ))
        .bind(&ids)
        .bind(&parts)
        .bind(&ks)
        .bind(&seqs)
        .bind(&stamps)
        .bind(&topics)
        .bind(&headers)
        .bind(&payloads)
        .execute(&mut **tx)
        .await?;
        let mut touched = parts.clone();
        touched.sort_unstable();
        touched.dedup();
        sqlx::query(&format!(
            "SELECT pg_notify($1, partition::text) FROM {} WHERE partition = ANY($2) AND idle",
            n.leases
        ))
        .bind(&n.channel)
        .bind(&touched)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn heartbeat(&self, relay: &str, ttl: Duration) -> Result<u32, Error> {
        let n = &self.names;
        sqlx::query(&format!(
            "INSERT INTO {relays} (relay, expires_at) VALUES ($1, now() + $2 * interval '1 millisecond')
             ON CONFLICT (relay) DO UPDATE SET expires_at = excluded.expires_at",
            relays = n.relays
        ))
        .bind(relay)
        .bind(millis(ttl))
        .execute(&self.pool)
        .await?;
        sqlx::query(&format!(
            "DELETE FROM {} WHERE expires_at < now()",
            n.relays
        ))
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
                partition: r.get(0),
                epoch: r.get(1),
            })
            .collect())
    }

    async fn renew(&self, relay: &str, ttl: Duration) -> Result<(), Error> {
        // A lease locked by a batch in flight is skipped: that batch renewed
        // it when it started.
        sqlx::query(&format!(
            "UPDATE {l} SET expires_at = now() + $2 * interval '1 millisecond'
             WHERE partition IN (SELECT partition FROM {l} WHERE owner = $1 FOR UPDATE SKIP LOCKED)",
            l = self.names.leases
        ))
        .bind(relay)
        .bind(millis(ttl))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn acquire(&self, relay: &str, n: u32, ttl: Duration) -> Result<Vec<Lease>, Error> {
        // SKIP LOCKED: a lease whose (stopped) owner still has a batch open
        // stays locked until that transaction ends; it is left for a later
        // round rather than waited on.
        let rows = sqlx::query(&format!(
            "UPDATE {l} SET owner = $1, epoch = epoch + 1, idle = false,
                 expires_at = now() + $3 * interval '1 millisecond'
             WHERE partition IN (
                 SELECT partition FROM {l} WHERE owner IS NULL OR expires_at < now()
                 ORDER BY partition LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING partition, epoch",
            l = self.names.leases
        ))
        .bind(relay)
        .bind(i64::from(n))
        .bind(millis(ttl))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Lease {
                partition: r.get(0),
                epoch: r.get(1),
            })
            .collect())
    }

    async fn release(&self, relay: &str, lease: Lease) -> Result<bool, Error> {
        let released = sqlx::query(&format!(
            "UPDATE {} SET owner = NULL, expires_at = '-infinity', idle = true
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
            "UPDATE {} SET owner = NULL, expires_at = '-infinity', idle = true WHERE owner = $1",
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
        from: Option<i64>,
        removed: &Removed,
    ) -> Result<Option<(Self::Batch, Vec<Claimed>)>, Error> {
        let n = &self.names;
        let mut tx = crate::begin(&self.pool).await?;
        // Renewing the lease locks its row until this batch commits: the
        // fence every write below depends on.
        // The server ends this transaction if the relay goes quiet inside
        // it for half a lease (a relay stopped mid-batch), which frees the
        // lease row for a successor; a batch's publishing is bounded below
        // that (RelayConfig::publish_timeout).
        let renewed = sqlx::query(&format!(
            "WITH quiet AS (SELECT set_config('idle_in_transaction_session_timeout', $5, true))
             UPDATE {} SET expires_at = now() + $4 * interval '1 millisecond', idle = false
             FROM quiet WHERE partition = $1 AND owner = $2 AND epoch = $3",
            n.leases
        ))
        .bind(lease.partition)
        .bind(relay)
        .bind(lease.epoch)
        .bind(millis(ttl))
        .bind(format!("{}ms", (ttl / 2).as_millis().max(1)))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if renewed == 0 {
            return Err(Error::Fenced {
                partition: lease.partition as u32,
                epoch: lease.epoch,
            });
        }
        let rows = sqlx::query(&claim_sql(n))
            .bind(lease.partition)
            .bind(i64::from(limit))
            .bind(from)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            sqlx::query(&format!(
                "UPDATE {} SET idle = true WHERE partition = $1",
                n.leases
            ))
            .bind(lease.partition)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(None);
        }
        let mut claimed: Vec<Claimed> = rows
            .iter()
            .map(|r| Claimed {
                id: r.get(0),
                key: r.get(1),
                seq: r.get(2),
                topic: r.get(3),
                headers: r.get(4),
                payload: r.get(5),
                attempts: r.get(6),
                ts: r.get(7),
                after_waiting: false,
            })
            .collect();
        self.mark_waiting(&mut tx, &mut claimed, removed).await?;
        Ok(Some((tx, claimed)))
    }

    async fn horizon(&self) -> Result<Option<i64>, Error> {
        // Every writer of stamps (an enqueue, a dead letter's release)
        // locks the counter table first and stamps from the clock after:
        // a stamp is at least the start of its transaction. So a row not
        // committed now carries a stamp at least the oldest start among
        // the transactions holding a lock on that table now, or this
        // statement's start for a transaction not begun yet. Unknown (the
        // front) when a holder's start cannot be seen: a prepared
        // transaction (no pid), or another role's session without
        // pg_read_all_stats.
        let row = sqlx::query(
            "WITH holders AS (
                 SELECT a.xact_start FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE l.locktype = 'relation' AND l.relation = to_regclass($1)
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
             SELECT LEAST((extract(epoch FROM statement_timestamp()) * 1000000)::bigint,
                          (SELECT (extract(epoch FROM min(xact_start)) * 1000000)::bigint FROM holders)),
                    EXISTS (SELECT 1 FROM holders WHERE xact_start IS NULL)",
        )
        .bind(&self.names.keys)
        .fetch_one(&self.pool)
        .await?;
        let (at, unknown): (i64, bool) = (row.get(0), row.get(1));
        Ok((!unknown).then_some(at))
    }

    async fn has_work(&self, partition: i32, from: Option<i64>) -> Result<bool, Error> {
        let n = &self.names;
        let found: bool = sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM {outbox} o WHERE partition = $1 AND ts >= COALESCE($2::bigint, '{min}'::bigint)
                 AND NOT EXISTS (SELECT 1 FROM {held} h WHERE h.key = o.key))",
            outbox = n.outbox,
            held = n.held,
            min = i64::MIN,
        ))
        .bind(partition)
        .bind(from)
        .fetch_one(&self.pool)
        .await?;
        Ok(found)
    }

    async fn complete(
        &self,
        mut tx: Self::Batch,
        lease: Lease,
        outcome: Outcome,
        settings: &CompleteSettings,
    ) -> Result<Completed, Error> {
        let n = &self.names;
        let mut done = Completed::default();
        if !outcome.acked.is_empty() {
            if settings.keep_published {
                sqlx::query(&format!(
                    "WITH d AS (DELETE FROM {outbox} WHERE id = ANY($1)
                                RETURNING id, partition, key, seq, ts, topic, headers, payload, created_at)
                     INSERT INTO {published} (id, partition, key, seq, topic, headers, payload, created_at, relay, epoch)
                     SELECT id, partition, key, seq, topic, headers, payload, created_at, $2, $3 FROM d ORDER BY ts",
                    outbox = n.outbox,
                    published = n.published
                ))
                .bind(&outcome.acked)
                .bind(&settings.relay)
                .bind(lease.epoch)
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query(&format!("DELETE FROM {} WHERE id = ANY($1)", n.outbox))
                    .bind(&outcome.acked)
                    .execute(&mut *tx)
                    .await?;
            }
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
            let (attempts, key): (i32, String) = (row.get(0), row.get(1));
            if attempts < settings.max_attempts {
                continue;
            }
            sqlx::query(&format!(
                "WITH d AS (DELETE FROM {outbox} WHERE id = $1 RETURNING *)
                 INSERT INTO {dead} (id, partition, key, seq, ts, topic, headers, payload, created_at, attempts, last_error)
                 SELECT id, partition, key, seq, ts, topic, headers, payload, created_at, attempts, last_error FROM d",
                outbox = n.outbox,
                dead = n.dead
            ))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if settings.hold_key {
                sqlx::query(&format!(
                    "INSERT INTO {} (key) VALUES ($1) ON CONFLICT (key) DO NOTHING",
                    n.held
                ))
                .bind(&key)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(&format!(
                "INSERT INTO {} (action, id, key, by) VALUES ('dead-lettered', $1, $2, $3)",
                n.decisions
            ))
            .bind(id)
            .bind(&key)
            .bind(&settings.relay)
            .execute(&mut *tx)
            .await?;
            done.dead_lettered.push((*id, key));
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn purge_published(&self, age: Duration) -> Result<u64, Error> {
        let done = sqlx::query(&format!(
            "DELETE FROM {} WHERE published_at < now() - $1 * interval '1 millisecond'",
            self.names.published
        ))
        .bind(millis(age))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn backlog(&self) -> Result<Backlog, Error> {
        let n = &self.names;
        let rows = sqlx::query(&format!(
            "SELECT partition, count(*), extract(epoch FROM now() - min(created_at))::float8
             FROM {} GROUP BY partition ORDER BY partition",
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
                let (partition, messages, age): (i32, i64, f64) = (r.get(0), r.get(1), r.get(2));
                (
                    partition as u32,
                    messages as u64,
                    Duration::from_secs_f64(age.max(0.0)),
                )
            }),
            dead as u64,
            held as u64,
        ))
    }

    async fn dead_letters(&self, key: Option<&str>, limit: u32) -> Result<Vec<DeadLetter>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT id, key, seq, topic, attempts, last_error, length(payload)::bigint,
                    (extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM dead_at) * 1000)::bigint
             FROM {} WHERE $1::text IS NULL OR key = $1 ORDER BY key, ts LIMIT $2",
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
                attempts: r.get(4),
                last_error: r.get(5),
                payload_bytes: r.get(6),
                enqueued_at_ms: r.get(7),
                dead_at_ms: r.get(8),
            })
            .collect())
    }

    async fn retry_dead(&self, id: Uuid, by: &str) -> Result<String, Error> {
        let n = &self.names;
        let mut tx = crate::begin(&self.pool).await?;
        // Back with its own seq and stamp: older than any held row of its
        // key, so it goes first when the key is released.
        let key: Option<String> = sqlx::query_scalar(&format!(
            "WITH d AS (DELETE FROM {dead} WHERE id = $1 RETURNING *)
             INSERT INTO {outbox} (id, partition, key, seq, ts, topic, headers, payload, created_at, attempts, last_error)
             SELECT id, partition, key, seq, ts, topic, headers, payload, created_at, 0, last_error FROM d
             RETURNING key",
            dead = n.dead,
            outbox = n.outbox
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let key = key.ok_or(Error::NotFound(id))?;
        self.settle(&mut tx, "retry", id, &key, by).await?;
        tx.commit().await?;
        Ok(key)
    }

    async fn purge_dead(&self, id: Uuid, by: &str) -> Result<String, Error> {
        let mut tx = crate::begin(&self.pool).await?;
        let key: Option<String> = sqlx::query_scalar(&format!(
            "DELETE FROM {} WHERE id = $1 RETURNING key",
            self.names.dead
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let key = key.ok_or(Error::NotFound(id))?;
        self.settle(&mut tx, "purge", id, &key, by).await?;
        tx.commit().await?;
        Ok(key)
    }

    async fn decisions(&self, limit: u32) -> Result<Vec<Decision>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT (extract(epoch FROM at) * 1000)::bigint, action, id, key, by FROM {} ORDER BY n DESC LIMIT $1",
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

    async fn listen(&self, wake: Wake) {
        loop {
            match sqlx::postgres::PgListener::connect_with(&self.pool).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen(&self.names.channel).await {
                        tracing::warn!(target: "ballast_outbox", error = %e, "LISTEN failed; polling until it works");
                    } else {
                        // Anything signalled while not listening was missed.
                        wake(None);
                        loop {
                            match listener.recv().await {
                                Ok(note) => wake(note.payload().parse().ok()),
                                Err(e) => {
                                    tracing::warn!(target: "ballast_outbox", error = %e, "LISTEN connection lost; reconnecting");
                                    wake(None);
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(target: "ballast_outbox", error = %e, "cannot connect to LISTEN; polling until it works");
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

impl PgStore {
    /// Releases the key's hold once no dead letter of it is left, and logs
    /// the decision, in the operator's transaction.
    async fn settle(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        action: &str,
        id: Uuid,
        key: &str,
        by: &str,
    ) -> Result<(), Error> {
        let n = &self.names;
        sqlx::query(&format!(
            "DELETE FROM {held} WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM {dead} WHERE key = $1)",
            held = n.held,
            dead = n.dead
        ))
        .bind(key)
        .execute(&mut **tx)
        .await?;
        // The key's waiting rows (a dead letter put back, messages held
        // behind one) may sit far behind the relay's read position: stamp
        // them anew, in seq order, as an enqueue would (counter table
        // locked first, then the clock), so the relay meets them ahead.
        sqlx::query(&format!(
            "WITH k AS (
                 UPDATE {keys} SET ts = GREATEST(ts, {clock} + (SELECT count(*) FROM {outbox} WHERE key = $1))
                 WHERE key = $1 RETURNING ts),
             o AS (SELECT id, row_number() OVER (ORDER BY seq DESC) AS back FROM {outbox} WHERE key = $1)
             UPDATE {outbox} x SET ts = k.ts - o.back + 1 FROM k, o WHERE x.id = o.id",
            keys = n.keys,
            outbox = n.outbox,
            clock = CLOCK_MICROS,
        ))
        .bind(key)
        .execute(&mut **tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO {} (action, id, key, by) VALUES ($1, $2, $3, $4)",
            n.decisions
        ))
        .bind(action)
        .bind(id)
        .bind(key)
        .bind(by)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

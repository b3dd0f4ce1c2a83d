//! Saga throughput on this machine: completed three-step sagas per second
//! on SQLite and on PostgreSQL with 1, 100 and 1,000 sagas in flight,
//! beside the ceiling measured in the same run: the same log rows (same
//! columns, same sizes) written by bare sqlx inserts with no ballast code,
//! committed the way the executor commits (a saga's create in its own
//! transaction, its later rows through one writer that groups the rows
//! ready together into one transaction and one statement). Two more
//! columns write the rows one transaction a row (8 a saga), bare and with
//! the executor's per-entry SQL (the fencing update, the row update, the
//! insert numbering its entry) around each insert, to show what grouping
//! buys and how much of the gap is SQL and how much the executor. Rates are noise on
//! a shared machine: read the ratios (STYLE section 8).
//!
//! ```text
//! eval "$(scripts/services)"
//! cargo bench -p ballast-saga --bench throughput
//! BALLAST_BENCH_QUICK=1 cargo bench -p ballast-saga --bench throughput   # a smoke run
//! ```
//!
//! Environment: `BALLAST_PG_URL` (PostgreSQL rows are skipped with a
//! printed line if unset), `BALLAST_BENCH_QUICK=1` (one short round),
//! `BENCH_IN_FLIGHT` ("1,100,1000"), `BENCH_DB` (`postgres` or `sqlite`: that one alone), `BENCH_ROUNDS` (3), `BENCH_SECS` (2,
//! measured after 0.5 s of warm-up), `BENCH_POOL` (16 PostgreSQL
//! connections, for the executor and the bare writers alike; SQLite uses
//! the crate's opener, 8).
//!
//! How a completion is seen: the third step's action reports its saga,
//! and one query a millisecond asks which of the reported sagas are
//! `completed` (the two writes after the action must be durable too).
//! In-flight sagas are kept at N: each completion starts a new saga.

use ballast_saga::{Definition, Executor, Operator, Step, StepContext};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, SqlitePool};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const STEPS: [&str; 3] = ["reserve", "charge", "ship"];

fn main() -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

struct Settings {
    pg: Option<String>,
    in_flight: Vec<usize>,
    rounds: usize,
    warm: Duration,
    measure: Duration,
    pool: u32,
}

impl Settings {
    fn from_env() -> Settings {
        let quick = std::env::var("BALLAST_BENCH_QUICK").is_ok_and(|v| v == "1");
        let num = |k: &str, d: f64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(d)
        };
        let in_flight = std::env::var("BENCH_IN_FLIGHT")
            .ok()
            .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| {
                if quick {
                    vec![1, 100]
                } else {
                    vec![1, 100, 1000]
                }
            });
        Settings {
            pg: std::env::var("BALLAST_PG_URL")
                .ok()
                .filter(|u| !u.is_empty()),
            in_flight,
            rounds: if quick {
                1
            } else {
                num("BENCH_ROUNDS", 3.0) as usize
            },
            warm: Duration::from_secs_f64(if quick { 0.2 } else { 0.5 }),
            measure: Duration::from_secs_f64(if quick { 0.6 } else { num("BENCH_SECS", 2.0) }),
            pool: num("BENCH_POOL", 16.0) as u32,
        }
    }
}

/// The saga's state: what it did (the log's `state` column holds it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Order {
    done: Vec<String>,
}

/// The state after `k` steps, as the executor writes it.
fn state_after(k: usize) -> String {
    serde_json::to_string(&Order {
        done: STEPS[..k].iter().map(|s| s.to_string()).collect(),
    })
    .expect("a state")
}

/// reserve and charge (compensable), ship (the pivot); ship reports its
/// saga on `last`.
fn definition(last: mpsc::UnboundedSender<Uuid>) -> Definition<Order> {
    let step = |name: &'static str, last: Option<mpsc::UnboundedSender<Uuid>>| {
        Step::new(name, move |c: StepContext<Order>| {
            let last = last.clone();
            async move {
                if let Some(last) = last {
                    let _ = last.send(c.saga_id().0);
                }
                let mut o = c.into_state();
                o.done.push(name.into());
                Ok(o)
            }
        })
    };
    let undo = |c: StepContext<Order>| async move { Ok(c.into_state()) };
    Definition::builder("bench", 1)
        .step(step("reserve", None).compensate(undo))
        .step(step("charge", None).compensate(undo))
        .step(step("ship", Some(last)).pivot())
        .build()
        .expect("a valid definition")
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// Fresh tables (a new SQLite file, or new PostgreSQL tables) per run.
struct Target {
    pool: Pool,
    table: String,
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    async fn new(pg: Option<&str>, pool_size: u32) -> Result<Target, BoxError> {
        let u = Uuid::now_v7().simple().to_string();
        let table = format!("bsaga_{}", &u[20..]);
        let (pool, dir) = match pg {
            None => {
                let dir = tempfile::tempdir()?;
                let pool = ballast_saga::sqlite::connect(&dir.path().join("bench.db")).await?;
                (Pool::Sqlite(pool), Some(dir))
            }
            Some(url) => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(pool_size)
                    .acquire_timeout(Duration::from_secs(60))
                    .connect(url)
                    .await?;
                (Pool::Pg(pool), None)
            }
        };
        let t = Target {
            pool,
            table,
            _dir: dir,
        };
        // The crate's own tables and indexes, for the bare writers too.
        Operator::open(t.database(), &t.config()).await?;
        Ok(t)
    }

    fn database(&self) -> ballast_saga::Database {
        match &self.pool {
            Pool::Sqlite(p) => p.clone().into(),
            Pool::Pg(p) => p.clone().into(),
        }
    }

    fn config(&self) -> ballast_saga::Config {
        ballast_saga::Config::builder()
            .table(&self.table)
            .build()
            .expect("a config")
    }

    async fn drop_tables(&self) -> Result<(), BoxError> {
        if let Pool::Pg(p) = &self.pool {
            let t = &self.table;
            sqlx::query(&format!(
                "DROP TABLE IF EXISTS {t}_log, {t}_sagas, {t}_version"
            ))
            .execute(p)
            .await?;
        }
        Ok(())
    }

    /// Mean ms from `started` to `completed` in the log.
    async fn latency_ms(&self) -> Result<f64, BoxError> {
        let log = format!("{}_log", self.table);
        let sql = format!(
            "SELECT CAST(coalesce(avg(c.at - s.at), 0) AS DOUBLE PRECISION) FROM {log} s JOIN {log} c
             ON c.saga_id = s.saga_id AND s.kind = 'started' AND c.kind = 'completed'"
        );
        Ok(match &self.pool {
            Pool::Pg(p) => sqlx::query_scalar(&sql).fetch_one(p).await?,
            Pool::Sqlite(p) => sqlx::query_scalar(&sql).fetch_one(p).await?,
        })
    }

    /// Which of `ids` are completed.
    async fn completed(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, BoxError> {
        let sagas = format!("{}_sagas", self.table);
        Ok(match &self.pool {
            Pool::Pg(p) => {
                sqlx::query_scalar(&format!(
                    "SELECT id FROM {sagas} WHERE status = 'completed' AND id = ANY($1)"
                ))
                .bind(ids)
                .fetch_all(p)
                .await?
            }
            Pool::Sqlite(p) => {
                let marks = vec!["?"; ids.len()].join(", ");
                let sql = format!(
                    "SELECT id FROM {sagas} WHERE status = 'completed' AND id IN ({marks})"
                );
                let mut q = sqlx::query_scalar(&sql);
                for id in ids {
                    q = q.bind(*id);
                }
                q.fetch_all(p).await?
            }
        })
    }
}

/// When a run counts: from the end of the warm-up, once as many sagas as
/// are in flight have completed (the first wave: sagas started together
/// finish together, and with many in flight they stay in step), until
/// `measure` has passed and another wave has completed; the rate is the
/// completions over the time from the window's start to the last one.
struct Window {
    started: Instant,
    warm: Duration,
    measure: Duration,
    wave: u64,
    total: AtomicU64,
    counted: AtomicU64,
    from: std::sync::OnceLock<Instant>,
    last: parking_lot::Mutex<Option<Instant>>,
    closed: std::sync::atomic::AtomicBool,
}

impl Window {
    fn new(s: &Settings, wave: usize) -> Window {
        Window {
            started: Instant::now(),
            warm: s.warm,
            measure: s.measure,
            wave: wave as u64,
            total: AtomicU64::new(0),
            counted: AtomicU64::new(0),
            from: std::sync::OnceLock::new(),
            last: parking_lot::Mutex::new(None),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Records `k` completions now.
    fn completed(&self, k: u64) {
        // Relaxed: the window's counters change under `last`'s lock and are
        // read once the run is over; `closed` is a stop flag, and a writer
        // that sees it late only runs one saga more (not counted).
        let total = self.total.fetch_add(k, Ordering::Relaxed) + k;
        let now = Instant::now();
        match self.from.get() {
            Some(&from) => {
                let mut last = self.last.lock();
                if self.closed.load(Ordering::Relaxed) {
                    return;
                }
                let counted = self.counted.fetch_add(k, Ordering::Relaxed) + k;
                *last = Some(now);
                if now >= from + self.measure && counted >= self.wave {
                    self.closed.store(true, Ordering::Relaxed);
                }
            }
            None if total >= self.wave && now >= self.started + self.warm => {
                let _ = self.from.set(now);
            }
            None => {}
        }
    }

    /// Whether the window is over (or it runs past two minutes).
    fn over(&self) -> bool {
        self.closed.load(Ordering::Relaxed) || self.started.elapsed() > Duration::from_secs(120)
    }

    fn sample(&self) -> Sample {
        let span = match (self.from.get(), *self.last.lock()) {
            (Some(&from), Some(last)) if last > from => last - from,
            _ => return sample(0, Duration::from_secs(1)),
        };
        sample(self.counted.load(Ordering::Relaxed), span)
    }
}

/// One measured run: sagas completed in the window, per second.
#[derive(Debug, Clone, Copy)]
struct Sample {
    rate: f64,
    /// The executor's: mean ms from a saga's `started` entry to its
    /// `completed` entry, as the log's clock says.
    latency_ms: f64,
}

fn sample(completed: u64, window: Duration) -> Sample {
    Sample {
        rate: completed as f64 / window.as_secs_f64(),
        latency_ms: 0.0,
    }
}

/// The executor with `n` sagas in flight.
async fn executor(t: &Target, n: usize, s: &Settings) -> Result<(Sample, u64), BoxError> {
    let (last_tx, mut last_rx) = mpsc::unbounded_channel();
    let h = Executor::builder(t.database())
        .config(t.config())
        .register(definition(last_tx))
        .start()
        .await?;
    let launch = |k: usize| {
        for _ in 0..k {
            let h = h.clone();
            tokio::spawn(async move {
                if let Err(e) = h.start_saga("bench", 1, &Order::default()).await {
                    eprintln!("bench: a saga failed to start: {e}");
                }
            });
        }
    };
    let window = Window::new(s, n);
    launch(n);
    let mut pending: HashSet<Uuid> = HashSet::new();
    let mut polls = 0u64;
    while !window.over() {
        while let Ok(id) = last_rx.try_recv() {
            pending.insert(id);
        }
        if !pending.is_empty() {
            let ids: Vec<Uuid> = pending.iter().copied().collect();
            let done = t.completed(&ids).await?;
            polls += 1;
            window.completed(done.len() as u64);
            for id in &done {
                pending.remove(id);
            }
            launch(done.len());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    h.shutdown().await?;
    let mut sample = window.sample();
    sample.latency_ms = t.latency_ms().await?;
    Ok((sample, polls))
}

/// The same rows in the same transactions, by `n` bare writers; with
/// `updates`, the executor's own SQL for each entry.
/// How the bare writers commit.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bare {
    /// One transaction a row (8 a saga).
    PerRow,
    /// One transaction a row, with the executor's SQL around the insert.
    PerRowWithSql,
    /// As the executor commits: a saga's create in a transaction of its
    /// own, its later rows through one writer that inserts the rows ready
    /// together in one transaction and one statement.
    Grouped,
}

async fn bare(t: &Target, n: usize, s: &Settings, mode: Bare) -> Result<Sample, BoxError> {
    let window = Arc::new(Window::new(s, n));
    let group = (mode == Bare::Grouped).then(|| group::writer(t.pool.clone(), t.table.clone()));
    let updates = mode == Bare::PerRowWithSql;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (pool, table, window) = (t.pool.clone(), t.table.clone(), window.clone());
        let group = group.clone();
        tasks.spawn(async move {
            while !window.over() {
                match (&pool, &group) {
                    (_, Some(g)) => group::saga(&pool, &table, g).await?,
                    (Pool::Pg(p), None) => pg::saga(p, &table, updates).await?,
                    (Pool::Sqlite(p), None) => lite::saga(p, &table, updates).await?,
                }
                window.completed(1);
            }
            Ok::<(), sqlx::Error>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(window.sample())
}

/// The grouped ceiling: bare inserts committed in groups, as the
/// executor's writer commits its log entries.
mod group {
    use super::*;
    use tokio::sync::oneshot;

    /// One later row of a saga, waiting for the writer.
    pub struct Job {
        id: Uuid,
        n: i64,
        entry: Entry,
        done: oneshot::Sender<()>,
    }

    /// Starts the writer: it takes the rows ready together (up to 256, the
    /// executor's default group) and writes them in one transaction.
    pub fn writer(pool: Pool, t: String) -> mpsc::UnboundedSender<Job> {
        let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut group = vec![first];
                while group.len() < 256 {
                    match rx.try_recv() {
                        Ok(j) => group.push(j),
                        Err(_) => break,
                    }
                }
                let wrote = match &pool {
                    Pool::Pg(p) => pg_rows(p, &t, &group).await,
                    Pool::Sqlite(p) => lite_rows(p, &t, &group).await,
                };
                if let Err(e) = wrote {
                    eprintln!("bench: a bare group failed: {e}");
                    return;
                }
                for j in group {
                    let _ = j.done.send(());
                }
            }
        });
        jobs
    }

    async fn pg_rows(p: &PgPool, t: &str, group: &[Job]) -> Result<(), sqlx::Error> {
        let ids: Vec<Uuid> = group.iter().map(|j| j.id).collect();
        let ns: Vec<i64> = group.iter().map(|j| j.n).collect();
        let kinds: Vec<&str> = group.iter().map(|j| j.entry.kind).collect();
        let steps: Vec<Option<&str>> = group.iter().map(|j| j.entry.step).collect();
        let states: Vec<Option<String>> = group.iter().map(|j| j.entry.state.clone()).collect();
        let mut tx = p.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO {t}_log (saga_id, n, kind, step, state, error, epoch, at)
             SELECT id, n, kind, step, state::jsonb, NULL, 1, $6
             FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[])
                 AS r(id, n, kind, step, state)"
        ))
        .bind(&ids)
        .bind(&ns)
        .bind(&kinds)
        .bind(&steps)
        .bind(&states)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    async fn lite_rows(p: &SqlitePool, t: &str, group: &[Job]) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
        for j in group {
            sqlx::query(&format!(
                "INSERT INTO {t}_log (saga_id, n, kind, step, state, error, epoch, at)
                 VALUES ($1, $2, $3, $4, $5, NULL, 1, $6)"
            ))
            .bind(j.id)
            .bind(j.n)
            .bind(j.entry.kind)
            .bind(j.entry.step)
            .bind(&j.entry.state)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// One saga: its create alone, then each later row through the writer,
    /// the next sent once the last is durable.
    pub async fn saga(
        pool: &Pool,
        t: &str,
        w: &mpsc::UnboundedSender<Job>,
    ) -> Result<(), sqlx::Error> {
        let id = match pool {
            Pool::Pg(p) => pg::create(p, t).await?,
            Pool::Sqlite(p) => lite::create(p, t).await?,
        };
        for (i, entry) in entries().into_iter().enumerate() {
            let (done, rx) = oneshot::channel();
            let job = Job {
                id,
                n: i as i64 + 2,
                entry,
                done,
            };
            if w.send(job).is_err() || rx.await.is_err() {
                return Err(sqlx::Error::PoolClosed);
            }
        }
        Ok(())
    }
}

/// One log entry of a saga, as the executor writes it.
struct Entry {
    kind: &'static str,
    step: Option<&'static str>,
    state: Option<String>,
    status: Option<&'static str>,
}

/// The entries after `started`: each step started and succeeded, then
/// completed.
fn entries() -> Vec<Entry> {
    let mut v = Vec::new();
    for (k, step) in STEPS.iter().enumerate() {
        v.push(Entry {
            kind: "step_started",
            step: Some(step),
            state: None,
            status: None,
        });
        v.push(Entry {
            kind: "step_succeeded",
            step: Some(step),
            state: Some(state_after(k + 1)),
            status: None,
        });
    }
    v.push(Entry {
        kind: "completed",
        step: None,
        state: None,
        status: Some("completed"),
    });
    v
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const OWNER: &str = "executor-0191c2d4-7c1e-7000-8000-000000000000";

mod pg {
    use super::*;

    /// A saga's row and its started entry, in one transaction.
    pub async fn create(p: &PgPool, t: &str) -> Result<Uuid, sqlx::Error> {
        let id = Uuid::now_v7();
        let s0 = state_after(0);
        let mut tx = p.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO {t}_sagas (id, name, version, status, state, owner, epoch, lease_expires_at, deadline_ms)
             VALUES ($1, 'bench', 1, 'running', $2::jsonb, $3, 1, now() + 30000 * interval '1 millisecond', NULL)"
        ))
        .bind(id)
        .bind(&s0)
        .bind(OWNER)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO {t}_log (saga_id, n, kind, state, epoch, at) VALUES ($1, 1, 'started', $2::jsonb, 1, $3)"
        ))
        .bind(id)
        .bind(&s0)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn saga(p: &PgPool, t: &str, updates: bool) -> Result<(), sqlx::Error> {
        let id = create(p, t).await?;
        for (i, e) in entries().into_iter().enumerate() {
            let mut tx = p.begin().await?;
            if updates {
                let _: Option<(bool, bool)> = sqlx::query_as(&format!(
                    "UPDATE {t}_sagas SET lease_expires_at = now() + $4 * interval '1 millisecond', updated_at = now()
                     WHERE id = $1 AND owner = $2 AND epoch = $3
                     RETURNING cancel_requested, past_pivot"
                ))
                .bind(id)
                .bind(OWNER)
                .bind(1i64)
                .bind(30000i64)
                .fetch_optional(&mut *tx)
                .await?;
                sqlx::query(&format!(
                    "UPDATE {t}_sagas SET status = coalesce($2, status), state = coalesce($3::jsonb, state),
                         reason = CASE WHEN $2::text IS NULL THEN reason ELSE $4 END,
                         past_pivot = past_pivot OR $5
                     WHERE id = $1"
                ))
                .bind(id)
                .bind(e.status)
                .bind(&e.state)
                .bind(None::<String>)
                .bind(e.step == Some("ship") && e.kind == "step_started")
                .execute(&mut *tx)
                .await?;
                sqlx::query(&format!(
                    "INSERT INTO {t}_log (saga_id, n, kind, step, state, error, epoch, at)
                     VALUES ($1, (SELECT coalesce(max(n), 0) + 1 FROM {t}_log WHERE saga_id = $1), $2, $3, $4::jsonb, $5, $6, $7)"
                ))
                .bind(id)
                .bind(e.kind)
                .bind(e.step)
                .bind(&e.state)
                .bind(None::<String>)
                .bind(1i64)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query(&format!(
                    "INSERT INTO {t}_log (saga_id, n, kind, step, state, error, epoch, at)
                     VALUES ($1, $2, $3, $4, $5::jsonb, NULL, 1, $6)"
                ))
                .bind(id)
                .bind(i as i64 + 2)
                .bind(e.kind)
                .bind(e.step)
                .bind(&e.state)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Cluster-wide counters: committed transactions in this database, WAL
    /// syncs (other sessions on the server count too).
    pub async fn counters(p: &PgPool) -> Result<(i64, i64), sqlx::Error> {
        sqlx::query_as(
            "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
                    (SELECT wal_sync FROM pg_stat_wal)",
        )
        .fetch_one(p)
        .await
    }
}

mod lite {
    use super::*;

    /// A saga's row and its started entry, in one transaction.
    pub async fn create(p: &SqlitePool, t: &str) -> Result<Uuid, sqlx::Error> {
        let id = Uuid::now_v7();
        let s0 = state_after(0);
        let now = now_ms();
        let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(&format!(
            "INSERT INTO {t}_sagas (id, name, version, status, state, owner, epoch, lease_expires_at, deadline_ms, created_at, updated_at)
             VALUES ($1, 'bench', 1, 'running', $2, $3, 1, $4, NULL, $5, $5)"
        ))
        .bind(id)
        .bind(&s0)
        .bind(OWNER)
        .bind(now + 30000)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO {t}_log (saga_id, n, kind, state, epoch, at) VALUES ($1, 1, 'started', $2, 1, $3)"
        ))
        .bind(id)
        .bind(&s0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn saga(p: &SqlitePool, t: &str, updates: bool) -> Result<(), sqlx::Error> {
        let id = create(p, t).await?;
        for (i, e) in entries().into_iter().enumerate() {
            let now = now_ms();
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
            if updates {
                let _: Option<(bool, bool)> = sqlx::query_as(&format!(
                    "UPDATE {t}_sagas SET lease_expires_at = $4, updated_at = $5
                     WHERE id = $1 AND owner = $2 AND epoch = $3
                     RETURNING cancel_requested <> 0, past_pivot <> 0"
                ))
                .bind(id)
                .bind(OWNER)
                .bind(1i64)
                .bind(now + 30000)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                sqlx::query(&format!(
                    "UPDATE {t}_sagas SET status = coalesce($2, status), state = coalesce($3, state),
                         reason = CASE WHEN $2 IS NULL THEN reason ELSE $4 END,
                         past_pivot = past_pivot OR $5
                     WHERE id = $1"
                ))
                .bind(id)
                .bind(e.status)
                .bind(&e.state)
                .bind(None::<String>)
                .bind(e.step == Some("ship") && e.kind == "step_started")
                .execute(&mut *tx)
                .await?;
                sqlx::query(&format!(
                    "INSERT INTO {t}_log (saga_id, n, kind, step, state, error, epoch, at)
                     VALUES ($1, (SELECT coalesce(max(n), 0) + 1 FROM {t}_log WHERE saga_id = $1), $2, $3, $4, $5, $6, $7)"
                ))
                .bind(id)
                .bind(e.kind)
                .bind(e.step)
                .bind(&e.state)
                .bind(None::<String>)
                .bind(1i64)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query(&format!(
                    "INSERT INTO {t}_log (saga_id, n, kind, step, state, error, epoch, at)
                     VALUES ($1, $2, $3, $4, $5, NULL, 1, $6)"
                ))
                .bind(id)
                .bind(i as i64 + 2)
                .bind(e.kind)
                .bind(e.step)
                .bind(&e.state)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Median, min and max.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn cell(v: &[f64]) -> String {
    let (m, lo, hi) = spread(v);
    if v.len() == 1 {
        format!("{m:>8.0}")
    } else {
        format!("{m:>8.0} ({lo:.0}-{hi:.0})")
    }
}

async fn run() -> Result<(), BoxError> {
    let s = Settings::from_env();
    println!(
        "saga throughput: completed three-step sagas per second; median of {} round(s) (min-max), {:?} measured after {:?} of warm-up",
        s.rounds, s.measure, s.warm
    );
    println!(
        "ceiling: the same rows by bare sqlx inserts committed as the executor commits (a saga's create alone, its later rows grouped by one writer, one transaction and one statement a group), as many sagas in flight"
    );
    println!(
        "per row: the same rows, one transaction a row (8 a saga), with and without the executor's SQL (fencing update, row update, numbered insert) around each insert"
    );
    println!(
        "ms a saga: the executor's, from its started entry to its completed entry (the log's clock; median of rounds)"
    );
    let mut dbs: Vec<(&str, Option<String>)> = Vec::new();
    // BENCH_DB=postgres or sqlite runs that one alone.
    let only = std::env::var("BENCH_DB").ok();
    if only.as_deref() != Some("postgres") {
        dbs.push(("sqlite", None));
    }
    match &s.pg {
        _ if only.as_deref() == Some("sqlite") => {}
        Some(url) => dbs.push(("postgres", Some(url.clone()))),
        None => println!("postgres: skipped (BALLAST_PG_URL not set)"),
    }
    println!(
        "\n{:<9} {:>9}  {:<18} {:<18} {:>6}  {:<18} {:>6}  {:<18} {:>6}  {:>9}",
        "db",
        "in flight",
        "executor",
        "ceiling (grouped)",
        "ratio",
        "bare per row",
        "ratio",
        "per row + SQL",
        "ratio",
        "ms a saga"
    );
    for (name, url) in &dbs {
        for &n in &s.in_flight {
            let (mut ex, mut latency) = (Vec::new(), Vec::new());
            // Per bare mode: its rates and the executor's ratio to each.
            let modes = [Bare::Grouped, Bare::PerRow, Bare::PerRowWithSql];
            let mut rates = vec![Vec::new(); modes.len()];
            let mut ratios = vec![Vec::new(); modes.len()];
            for _ in 0..s.rounds {
                let t = Target::new(url.as_deref(), s.pool).await?;
                let (e, _) = executor(&t, n, &s)
                    .await
                    .map_err(|e| format!("{name}, {n} in flight, executor: {e}"))?;
                t.drop_tables().await?;
                ex.push(e.rate);
                latency.push(e.latency_ms);
                for (k, &mode) in modes.iter().enumerate() {
                    let t = Target::new(url.as_deref(), s.pool).await?;
                    let c = bare(&t, n, &s, mode)
                        .await
                        .map_err(|e| format!("{name}, {n} in flight, {mode:?}: {e}"))?;
                    t.drop_tables().await?;
                    rates[k].push(c.rate);
                    ratios[k].push(e.rate / c.rate.max(1.0));
                }
            }
            let ratio = |k: usize| spread(&ratios[k]).0 * 100.0;
            let (l, _, _) = spread(&latency);
            println!(
                "{:<9} {:>9}  {:<18} {:<18} {:>5.0}%  {:<18} {:>5.0}%  {:<18} {:>5.0}%  {:>9.1}",
                name,
                n,
                cell(&ex),
                cell(&rates[0]),
                ratio(0),
                cell(&rates[1]),
                ratio(1),
                cell(&rates[2]),
                ratio(2),
                l
            );
        }
    }
    if let Some(url) = &s.pg {
        profile(url, &s).await?;
    }
    Ok(())
}

/// Where the time goes on PostgreSQL: transactions and WAL syncs per log
/// row, for the executor and the bare inserts, 100 in flight. The pools
/// are closed before the counters are read (a backend publishes its
/// counters when it exits; idle, only every 10 s).
async fn profile(url: &str, s: &Settings) -> Result<(), BoxError> {
    let n = 100;
    println!(
        "\nprofile, postgres, {n} in flight (server-wide counters: other sessions on the server add to them):"
    );
    let stats = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    for what in ["executor", "bare grouped", "bare per row"] {
        let t = Target::new(Some(url), s.pool).await?;
        let Pool::Pg(p) = t.pool.clone() else {
            unreachable!()
        };
        let (x0, w0) = pg::counters(&stats).await?;
        let (polls, rate) = if what == "executor" {
            let (e, polls) = executor(&t, n, s).await?;
            (polls as i64, e.rate)
        } else {
            let mode = if what == "bare grouped" {
                Bare::Grouped
            } else {
                Bare::PerRow
            };
            (0, bare(&t, n, s, mode).await?.rate)
        };
        let sagas = format!("{}_sagas", t.table);
        let log = format!("{}_log", t.table);
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {log}"))
            .fetch_one(&p)
            .await?;
        let per_saga: f64 = if what != "executor" {
            8.0 // by construction
        } else {
            sqlx::query_scalar(&format!(
            "SELECT (SELECT count(*) FROM {log} l JOIN {sagas} s ON s.id = l.saga_id WHERE s.status = 'completed')::float8
                  / greatest(1, (SELECT count(*) FROM {sagas} WHERE status = 'completed'))"
        ))
        .fetch_one(&p)
        .await?
        };
        // The row counts above are two more transactions.
        let own = 2;
        t.drop_tables().await?;
        p.close().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (x1, w1) = pg::counters(&stats).await?;
        let xacts = (x1 - x0 - polls - own) as f64;
        println!(
            "  {what:<13} {rate:>6.0} sagas/s; {per_saga:.1} log rows a completed saga; {rows} rows in {:.0} transactions ({:.2} a row, less {polls} completion polls), {:.2} WAL syncs a row",
            xacts,
            xacts / rows.max(1) as f64,
            (w1 - w0) as f64 / rows.max(1) as f64
        );
    }
    println!(
        "  round trips: executor and bare grouped 3 a group of entries (BEGIN, one statement, COMMIT; the executor's statement fences, updates the saga rows and inserts); bare per row 3 a row"
    );
    Ok(())
}

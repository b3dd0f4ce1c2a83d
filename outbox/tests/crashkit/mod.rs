//! Killing real relays: child relay processes (the test binary re-executes
//! itself), a "broker" that lives outside them and survives their death,
//! publishers that stop at a step boundary so a kill lands there, and the
//! consumer's checks (every id arrived, per-key order once duplicates are
//! dropped by id).
//!
//! A test binary that uses this declares a `#[test] fn child_relay()` that
//! calls [`child_entry`]: it returns at once unless the parent set
//! [`ROLE`], in which case it runs a relay until killed.
#![allow(dead_code)]

use ballast_outbox::{
    Config, Envelope, Outbox, PublishError, Publisher, Relay, RelayConfig, RelayHandle, Retention,
};
use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Set in a child's environment: the child runs a relay.
pub const ROLE: &str = "BALLAST_CRASH_CHILD";
const DB: &str = "BALLAST_CRASH_DB";
const URL: &str = "BALLAST_CRASH_URL";
const TABLE: &str = "BALLAST_CRASH_TABLE";
const PARTITIONS: &str = "BALLAST_CRASH_PARTITIONS";
const RELAY: &str = "BALLAST_CRASH_RELAY";
const LEASE_MS: &str = "BALLAST_CRASH_LEASE_MS";
const TIMEOUT_MS: &str = "BALLAST_CRASH_PUBLISH_TIMEOUT_MS";
const BATCH: &str = "BALLAST_CRASH_BATCH";
const FAULT: &str = "BALLAST_CRASH_FAULT";
const POOL: &str = "BALLAST_CRASH_POOL";
const NATS_URL: &str = "BALLAST_CRASH_NATS_URL";
const NATS_PREFIX: &str = "BALLAST_CRASH_NATS_PREFIX";

/// Which database the outbox (and the broker next to it) lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Db {
    /// The outbox in a SQLite file; the broker in a second file beside it.
    Sqlite(std::path::PathBuf),
    /// The outbox on this PostgreSQL URL; the broker a table there.
    Postgres(String),
}

/// Where a publisher stops, so that a kill lands on a step boundary.
/// Calls are numbered from 1 in the order they start; once a call stopped,
/// every later call stops too (before appending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Call `k` stops before appending: calls 1..k are at the broker.
    Before(u64),
    /// Call `k` appends, then stops before returning Ok: the broker has
    /// calls 1..=k, the relay has recorded none of them.
    After(u64),
}

impl Fault {
    fn encode(self) -> String {
        match self {
            Fault::None => "none".into(),
            Fault::Before(k) => format!("before:{k}"),
            Fault::After(k) => format!("after:{k}"),
        }
    }

    fn decode(s: &str) -> Fault {
        match s.split_once(':') {
            Some(("before", k)) => Fault::Before(k.parse().expect("fault count")),
            Some(("after", k)) => Fault::After(k.parse().expect("fault count")),
            _ => Fault::None,
        }
    }
}

/// Everything a relay (child or in-process) needs to know.
#[derive(Debug, Clone)]
pub struct Spec {
    pub db: Db,
    pub table: String,
    pub partitions: u32,
    pub relay: String,
    pub lease: Duration,
    pub publish_timeout: Duration,
    pub batch: u32,
    pub fault: Fault,
    /// Connections per pool (outbox and broker each).
    pub pool: u32,
    /// Publish to NATS JetStream at this URL, on subjects `<prefix><topic>`,
    /// instead of to the broker table (which then holds only the markers).
    pub nats: Option<(String, String)>,
}

impl Spec {
    pub fn new(db: Db, table: &str, relay: &str) -> Spec {
        Spec {
            db,
            table: table.into(),
            partitions: 1,
            relay: relay.into(),
            lease: Duration::from_secs(2),
            publish_timeout: Duration::from_millis(900),
            batch: 10,
            fault: Fault::None,
            pool: 4,
            nats: None,
        }
    }

    pub fn relay(&self, id: &str, fault: Fault) -> Spec {
        Spec {
            relay: id.into(),
            fault,
            ..self.clone()
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let (db, url) = match &self.db {
            Db::Sqlite(p) => ("sqlite", p.display().to_string()),
            Db::Postgres(u) => ("postgres", u.clone()),
        };
        let (nats_url, nats_prefix) = self.nats.clone().unwrap_or_default();
        vec![
            (NATS_URL, nats_url),
            (NATS_PREFIX, nats_prefix),
            (ROLE, "1".into()),
            (DB, db.into()),
            (URL, url),
            (TABLE, self.table.clone()),
            (PARTITIONS, self.partitions.to_string()),
            (RELAY, self.relay.clone()),
            (LEASE_MS, self.lease.as_millis().to_string()),
            (TIMEOUT_MS, self.publish_timeout.as_millis().to_string()),
            (BATCH, self.batch.to_string()),
            (FAULT, self.fault.encode()),
            (POOL, self.pool.to_string()),
        ]
    }

    fn from_env() -> Spec {
        let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("child needs {k}"));
        let num = |k: &str| {
            var(k)
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{k} is a number"))
        };
        let db = match var(DB).as_str() {
            "sqlite" => Db::Sqlite(var(URL).into()),
            _ => Db::Postgres(var(URL)),
        };
        Spec {
            db,
            table: var(TABLE),
            partitions: num(PARTITIONS) as u32,
            relay: var(RELAY),
            lease: Duration::from_millis(num(LEASE_MS)),
            publish_timeout: Duration::from_millis(num(TIMEOUT_MS)),
            batch: num(BATCH) as u32,
            fault: Fault::decode(&var(FAULT)),
            pool: num(POOL) as u32,
            nats: std::env::var(NATS_URL)
                .ok()
                .filter(|u| !u.is_empty())
                .map(|u| (u, var(NATS_PREFIX))),
        }
    }

    pub fn config(&self) -> Config {
        Config::builder()
            .table(&self.table)
            .partitions(self.partitions)
            .build()
            .unwrap()
    }

    pub fn relay_config(&self) -> RelayConfig {
        RelayConfig::builder()
            .relay_id(&self.relay)
            .lease_ttl(self.lease)
            .publish_timeout(self.publish_timeout)
            .poll_interval(Duration::from_millis(20))
            .batch_size(self.batch)
            .retention(Retention::Keep(Duration::from_secs(3600)))
            .build()
            .unwrap()
    }

    /// Starts a relay in this process, publishing to the broker with the
    /// spec's fault.
    pub async fn start(&self) -> RelayHandle {
        let broker = Broker::connect(self).await;
        #[cfg(feature = "nats")]
        if let Some((url, prefix)) = &self.nats {
            let client = async_nats::connect(url).await.expect("nats connects");
            let js = ballast_outbox::publish::JetStreamPublisher::new(async_nats::jetstream::new(
                client,
            ))
            .with_subject_prefix(prefix);
            return self.start_with(Faulty::new(js, broker, self.fault)).await;
        }
        let appender = Appender {
            broker: broker.clone(),
            relay: self.relay.clone(),
        };
        self.start_with(Faulty::new(appender, broker, self.fault))
            .await
    }

    async fn start_with<P: Publisher>(&self, publisher: P) -> RelayHandle {
        match &self.db {
            Db::Sqlite(path) => {
                let pool = ballast_outbox::sqlite::connect(path).await.unwrap();
                let outbox = Outbox::new(pool, self.config()).await.unwrap();
                Relay::start(&outbox, publisher, self.relay_config())
            }
            Db::Postgres(url) => {
                let pool = pg_pool(url, self.pool).await;
                let outbox = Outbox::new(pool, self.config()).await.unwrap();
                Relay::start(&outbox, publisher, self.relay_config())
            }
        }
    }

    /// Starts a child process running a relay for this spec.
    pub fn spawn(&self) -> Child {
        let exe = std::env::current_exe().expect("test binary path");
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", "child_relay", "--nocapture", "--test-threads=1"])
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if std::env::var_os("BALLAST_CRASH_CHILD_LOG").is_none() {
            cmd.stderr(Stdio::null());
        }
        let child = cmd.spawn().expect("child relay starts");
        Child {
            relay: self.relay.clone(),
            child,
            reaped: None,
        }
    }
}

pub async fn pg_pool(url: &str, max: u32) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .expect("postgres connects")
}

/// The body of a binary's `child_relay` test: nothing unless [`ROLE`] is
/// set; then a relay that runs until the process is killed (or its parent
/// is gone).
pub fn child_entry() {
    if std::env::var_os(ROLE).is_none() {
        return;
    }
    let spec = Spec::from_env();
    let parent = std::os::unix::process::parent_id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let _relay = spec.start().await;
        eprintln!("child relay {} running", spec.relay);
        // Run until killed; an orphan (the test died) exits by itself.
        while std::os::unix::process::parent_id() == parent {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    std::process::exit(0);
}

/// A child relay process, killed with SIGKILL when dropped (also on panic).
pub struct Child {
    pub relay: String,
    child: std::process::Child,
    reaped: Option<std::process::ExitStatus>,
}

impl Child {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {sig} {} failed", self.pid());
    }

    /// SIGKILL, then reaps it; returns the signal that ended it.
    pub fn kill(&mut self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        if self.reaped.is_none() {
            self.signal("-KILL");
            self.reaped = Some(self.child.wait().expect("child reaped"));
        }
        self.reaped.and_then(|s| s.signal())
    }

    pub fn stop(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Fails if the child exited by itself (a panic in the relay's setup).
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("child status") {
            panic!("child relay {} exited by itself: {status}", self.relay);
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid().to_string()])
                .status();
            let _ = self.child.wait();
        }
    }
}

/// One delivery at the broker, in arrival order.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: Uuid,
    pub key: String,
    pub seq: i64,
    pub relay: String,
}

/// The broker: deliveries appended in autocommit to a store outside the
/// relay processes, so they survive a relay's death. PostgreSQL: the table
/// `<outbox table>_broker`; SQLite: a second database file.
#[derive(Clone)]
pub enum Broker {
    Pg { pool: sqlx::PgPool, table: String },
    Sqlite { pool: sqlx::SqlitePool },
}

impl Broker {
    /// Creates the broker's tables (the parent, before any child starts).
    pub async fn create(spec: &Spec) -> Broker {
        let broker = Broker::connect(spec).await;
        match &broker {
            Broker::Pg { pool, table } => {
                sqlx::raw_sql(&format!(
                    "CREATE TABLE {table} (n bigserial PRIMARY KEY, id uuid NOT NULL, key text NOT NULL, seq bigint NOT NULL, relay text NOT NULL);
                     CREATE TABLE {table}_marks (n bigserial PRIMARY KEY, what text NOT NULL)"
                ))
                .execute(pool)
                .await
                .unwrap();
            }
            Broker::Sqlite { pool } => {
                sqlx::raw_sql(
                    "CREATE TABLE IF NOT EXISTS broker (n INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, relay TEXT NOT NULL);
                     CREATE TABLE IF NOT EXISTS marks (n INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT NOT NULL)",
                )
                .execute(pool)
                .await
                .unwrap();
            }
        }
        broker
    }

    pub async fn connect(spec: &Spec) -> Broker {
        match &spec.db {
            Db::Sqlite(path) => Broker::Sqlite {
                pool: ballast_outbox::sqlite::connect(&path.with_extension("broker.db"))
                    .await
                    .unwrap(),
            },
            Db::Postgres(url) => {
                // A test broker: its appends are visible to the consumer at
                // once; only a crash of the database server itself (not
                // tested) could lose the last of them.
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(spec.pool)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|c, _| {
                        Box::pin(async move {
                            sqlx::query("SET synchronous_commit = off")
                                .execute(c)
                                .await
                                .map(|_| ())
                        })
                    })
                    .connect(url)
                    .await
                    .expect("postgres connects");
                Broker::Pg {
                    pool,
                    table: format!("{}_broker", spec.table),
                }
            }
        }
    }

    pub async fn append(&self, e: &Envelope, relay: &str) -> Result<(), sqlx::Error> {
        match self {
            Broker::Pg { pool, table } => {
                sqlx::query(&format!(
                    "INSERT INTO {table} (id, key, seq, relay) VALUES ($1, $2, $3, $4)"
                ))
                .bind(e.id)
                .bind(&e.key)
                .bind(e.seq)
                .bind(relay)
                .execute(pool)
                .await?;
            }
            Broker::Sqlite { pool } => {
                sqlx::query("INSERT INTO broker (id, key, seq, relay) VALUES ($1, $2, $3, $4)")
                    .bind(e.id)
                    .bind(&e.key)
                    .bind(e.seq)
                    .bind(relay)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn mark(&self, what: &str) {
        let result = match self {
            Broker::Pg { pool, table } => {
                sqlx::query(&format!("INSERT INTO {table}_marks (what) VALUES ($1)"))
                    .bind(what)
                    .execute(pool)
                    .await
                    .map(|_| ())
            }
            Broker::Sqlite { pool } => sqlx::query("INSERT INTO marks (what) VALUES ($1)")
                .bind(what)
                .execute(pool)
                .await
                .map(|_| ()),
        };
        result.expect("marker written");
    }

    pub async fn marks(&self) -> Vec<String> {
        match self {
            Broker::Pg { pool, table } => {
                sqlx::query_scalar(&format!("SELECT what FROM {table}_marks ORDER BY n"))
                    .fetch_all(pool)
                    .await
            }
            Broker::Sqlite { pool } => {
                sqlx::query_scalar("SELECT what FROM marks ORDER BY n")
                    .fetch_all(pool)
                    .await
            }
        }
        .unwrap()
    }

    /// Every delivery, in arrival order.
    pub async fn deliveries(&self) -> Vec<Delivery> {
        let rows: Vec<(Uuid, String, i64, String)> = match self {
            Broker::Pg { pool, table } => {
                sqlx::query_as(&format!(
                    "SELECT id, key, seq, relay FROM {table} ORDER BY n"
                ))
                .fetch_all(pool)
                .await
            }
            Broker::Sqlite { pool } => {
                sqlx::query_as("SELECT id, key, seq, relay FROM broker ORDER BY n")
                    .fetch_all(pool)
                    .await
            }
        }
        .unwrap();
        rows.into_iter()
            .map(|(id, key, seq, relay)| Delivery {
                id,
                key,
                seq,
                relay,
            })
            .collect()
    }

    /// How many distinct ids arrived.
    pub async fn distinct(&self) -> i64 {
        match self {
            Broker::Pg { pool, table } => {
                sqlx::query_scalar(&format!("SELECT count(DISTINCT id) FROM {table}"))
                    .fetch_one(pool)
                    .await
            }
            Broker::Sqlite { pool } => {
                sqlx::query_scalar("SELECT count(DISTINCT id) FROM broker")
                    .fetch_one(pool)
                    .await
            }
        }
        .unwrap()
    }

    /// Waits until `n` distinct ids arrived, or panics after `limit`.
    pub async fn wait_for(&self, n: usize, limit: Duration) {
        let start = Instant::now();
        loop {
            let got = self.distinct().await as usize;
            if got >= n {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "only {got} of {n} messages arrived at the broker within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until a publisher wrote the marker `what`.
    pub async fn wait_mark(&self, what: &str, limit: Duration) {
        let start = Instant::now();
        while !self.marks().await.iter().any(|m| m == what) {
            assert!(
                start.elapsed() < limit,
                "no publisher reached {what:?} within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Appends each envelope to the [`Broker`].
pub struct Appender {
    broker: Broker,
    relay: String,
}

impl Publisher for Appender {
    async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        self.broker
            .append(envelope, &self.relay)
            .await
            .map_err(PublishError::unavailable)
    }
}

/// Publishes through `inner` but stops forever at its [`Fault`], writing
/// the marker `stopped` to the broker when it gets there.
pub struct Faulty<P> {
    inner: P,
    marks: Broker,
    fault: Fault,
    calls: AtomicU64,
    tripped: AtomicBool,
}

impl<P> Faulty<P> {
    pub fn new(inner: P, marks: Broker, fault: Fault) -> Self {
        Faulty {
            inner,
            marks,
            fault,
            calls: AtomicU64::new(0),
            tripped: AtomicBool::new(false),
        }
    }

    async fn stop_here(&self) -> Result<(), PublishError> {
        // Relaxed: only this flag's own value matters.
        if !self.tripped.swap(true, Ordering::Relaxed) {
            self.marks.mark("stopped").await;
        }
        std::future::pending().await
    }
}

impl<P: Publisher> Publisher for Faulty<P> {
    async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        // Relaxed: calls are numbered; nothing else is published through it.
        let call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let stopped = self.tripped.load(Ordering::Relaxed);
        match self.fault {
            Fault::Before(k) if call >= k || stopped => return self.stop_here().await,
            Fault::After(k) if call > k || stopped => return self.stop_here().await,
            _ => {}
        }
        self.inner.publish(envelope).await?;
        if self.fault == Fault::After(call) {
            return self.stop_here().await;
        }
        Ok(())
    }
}

/// What the consumer saw once duplicates were dropped by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consumed {
    pub deliveries: usize,
    pub duplicates: usize,
}

/// The consumer (an inbox): reads deliveries in arrival order, drops those
/// whose id it already has, and checks each key's sequence numbers arrive
/// as 1, 2, 3, ... with no gap, and that exactly the `expected` ids arrived.
pub fn consume(deliveries: &[Delivery], expected: &HashSet<Uuid>) -> Consumed {
    let mut seen: HashSet<Uuid> = HashSet::with_capacity(deliveries.len());
    let mut next: HashMap<&str, i64> = HashMap::new();
    let mut duplicates = 0;
    for d in deliveries {
        if !seen.insert(d.id) {
            duplicates += 1;
            continue;
        }
        let want = next.entry(d.key.as_str()).or_insert(1);
        assert_eq!(
            d.seq, *want,
            "key {} got seq {} (id {}, from {}) where {} was due",
            d.key, d.seq, d.id, d.relay, want
        );
        *want += 1;
    }
    let missing = expected.difference(&seen).count();
    let unexpected = seen.difference(expected).count();
    assert_eq!(
        (missing, unexpected),
        (0, 0),
        "ids missing at the broker / ids never enqueued"
    );
    Consumed {
        deliveries: deliveries.len(),
        duplicates,
    }
}

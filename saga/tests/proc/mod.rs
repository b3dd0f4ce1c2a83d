//! Child executor processes for the saga's process-level tests: the test
//! binary re-executes itself as the child (its `child_executor` test,
//! selected by [`ROLE`] in the environment, as ballast-outbox's crash kit
//! does), so a test can SIGKILL, SIGSTOP and SIGCONT a real executor
//! process. The children talk to the parent in lines on stdout that start
//! with [`MARK`]; the "services" they call are a table of effects in the
//! database (see `effects`), which outlives them.
//!
//! A test binary using this declares `mod support;` (the trip's state and
//! retry settings come from there) and a `#[test] fn child_executor()`
//! that calls [`child_entry`].
#![allow(dead_code)]

pub mod effects;
pub mod trip;

use ballast_saga::{Executor, ExecutorHandle};
use effects::Effects;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use trip::{Delay, Scenario};

/// Set in a child's environment to its [`Spec`] as JSON.
pub const ROLE: &str = "BALLAST_SAGA_CHILD";
/// Lines from a child to its parent start with this.
pub const MARK: &str = "@saga-child ";

/// The database the sagas and the effects live in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

/// A pool on a [`Db`].
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    pub async fn pool(&self, max: u32) -> Pool {
        match self {
            Db::Sqlite(path) => Pool::Sqlite(
                ballast_saga::sqlite::connect(path)
                    .await
                    .expect("sqlite opens"),
            ),
            Db::Postgres(url) => Pool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(60))
                    .connect(url)
                    .await
                    .expect("postgres connects"),
            ),
        }
    }
}

impl Pool {
    pub fn database(&self) -> ballast_saga::Database {
        match self {
            Pool::Sqlite(p) => p.clone().into(),
            Pool::Postgres(p) => p.clone().into(),
        }
    }

    /// Drops the saga tables of `table` (PostgreSQL; a SQLite file goes
    /// with its temporary directory).
    pub async fn drop_saga_tables(&self, table: &str) {
        if let Pool::Postgres(p) = self {
            crate::support::drop_saga_tables(p, table).await;
        }
    }

    pub async fn drop_table(&self, table: &str) {
        if let Pool::Postgres(p) = self {
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                .execute(p)
                .await
                .expect("drop the test's table");
        }
    }
}

/// A short unique prefix for table names (saga table names are at most
/// 40 characters, and get `_<n>` appended here).
pub fn prefix(tag: &str) -> String {
    // The last 12 digits of a v7 UUID are random.
    let u = uuid::Uuid::now_v7().simple().to_string();
    format!("{tag}_{}", &u[20..])
}

/// Executor settings for the process tests: leases short enough that a
/// dead child's sagas are taken over within about a second.
pub fn config(table: &str, owner: &str, lease: Duration) -> ballast_saga::Config {
    ballast_saga::Config::builder()
        .table(table)
        .owner(owner)
        .lease(lease)
        .tick(lease / 4)
        .claim_batch(500)
        .compensation_attempts(3)
        .compensation_backoff(
            ballast_retry::Backoff::constant(Duration::from_millis(5))
                .build()
                .expect("a backoff"),
        )
        .build()
        .expect("a config")
}

/// What a child does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Role {
    /// `executors` executors, executor `i` on the tables `<prefix>_<i>`:
    /// each starts one saga and stops at its `i`-th boundary (counted from
    /// 0): it says `reached <i> <boundary>` and blocks there until killed.
    Crash {
        scenario: Scenario,
        executors: usize,
    },
    /// One executor named `owner` on the tables `<prefix>`: starts
    /// `sagas` sagas (says `started <n>` when they are all durable), and
    /// runs them and any it claims until killed.
    Worker {
        owner: String,
        sagas: usize,
        delay: Delay,
    },
}

/// Everything a child needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub db: Db,
    /// The tables' prefix; the effects live in `<prefix>_fx`.
    pub prefix: String,
    pub lease_ms: u64,
    pub role: Role,
}

impl Spec {
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }

    pub fn effects_table(&self) -> String {
        format!("{}_fx", self.prefix)
    }

    /// Starts a child process for this spec.
    pub fn spawn(&self) -> Child {
        let exe = std::env::current_exe().expect("test binary path");
        let mut cmd = Command::new(exe);
        cmd.args([
            "--exact",
            "child_executor",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, serde_json::to_string(self).expect("spec as JSON"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
        if std::env::var_os("BALLAST_SAGA_CHILD_LOG").is_none() {
            cmd.stderr(Stdio::null());
        }
        let mut child = cmd.spawn().expect("the child starts");
        let out = child.stdout.take().expect("the child's stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                // The test harness may have begun the line ("test
                // child_executor ... ").
                if let Some(at) = line.find(MARK)
                    && tx.send(line[at + MARK.len()..].to_string()).is_err()
                {
                    break;
                }
            }
        });
        Child {
            child,
            lines,
            reaped: None,
        }
    }
}

/// A child process, killed with SIGKILL when dropped (also on panic).
pub struct Child {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
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

    /// SIGSTOP: the whole process freezes where it is.
    pub fn stop(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// The next line the child said, waiting at most until `until`.
    pub fn next_line(&mut self, until: Instant) -> Option<String> {
        let left = until.saturating_duration_since(Instant::now());
        self.lines.recv_timeout(left).ok()
    }

    /// Collects `n` lines starting with `word`, or panics after `limit`
    /// (saying what came, and whether the child exited by itself).
    pub fn expect(&mut self, word: &str, n: usize, limit: Duration) -> Vec<String> {
        let until = Instant::now() + limit;
        let mut got = Vec::new();
        while got.len() < n {
            match self.next_line(until) {
                Some(line) => {
                    if let Some(rest) = line.strip_prefix(word) {
                        got.push(rest.trim_start().to_string());
                    }
                }
                None => {
                    let exited = self.child.try_wait().ok().flatten();
                    panic!(
                        "{} of {n} {word:?} lines from the child within {limit:?} (exited: {exited:?})",
                        got.len()
                    );
                }
            }
        }
        got
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

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{MARK}{line}");
    let _ = out.flush();
}

/// The body of a binary's `child_executor` test: nothing unless [`ROLE`]
/// is set; then the child's role, until it is killed (or its parent is
/// gone: an orphan exits by itself).
pub fn child_entry() {
    let Ok(spec) = std::env::var(ROLE) else {
        return;
    };
    let spec: Spec = serde_json::from_str(&spec).expect("a child spec");
    let parent = std::os::unix::process::parent_id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let _executors = match &spec.role {
            #[cfg(feature = "crash-hooks")]
            Role::Crash {
                scenario,
                executors,
            } => crash_child(&spec, *scenario, *executors).await,
            #[cfg(not(feature = "crash-hooks"))]
            Role::Crash { .. } => panic!("a crash child needs feature crash-hooks"),
            Role::Worker {
                owner,
                sagas,
                delay,
            } => vec![worker_child(&spec, owner, *sagas, *delay).await],
        };
        while std::os::unix::process::parent_id() == parent {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    std::process::exit(0);
}

#[cfg(feature = "crash-hooks")]
/// The crash hook of executor `i`: at its `i`-th boundary it tells the
/// parent and blocks its task's thread for good (the runtime goes on with
/// the other executors on other threads), so the parent's SIGKILL lands
/// exactly there.
fn stop_at(i: usize) -> impl Fn(&ballast_saga::crash::Boundary) -> bool + Send + Sync + 'static {
    let seen = std::sync::atomic::AtomicUsize::new(0);
    move |at| {
        // Relaxed: one saga's boundaries come one after another from its
        // task; the count is all that matters.
        if seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == i {
            say(&format!("reached {i} {at:?}"));
            tokio::task::block_in_place(|| {
                loop {
                    std::thread::park();
                }
            });
        }
        false
    }
}

#[cfg(feature = "crash-hooks")]
async fn crash_child(spec: &Spec, scenario: Scenario, executors: usize) -> Vec<ExecutorHandle> {
    let pool = spec.db.pool(8).await;
    let fx = Effects::open(&pool, &spec.effects_table());
    let starts = (0..executors).map(|i| {
        let (pool, fx) = (pool.clone(), fx.clone());
        async move {
            let table = format!("{}_{i}", spec.prefix);
            let h = Executor::builder(pool.database())
                .config(config(&table, &format!("child-{i}"), spec.lease()))
                .register(trip::trip(&fx, scenario, Delay::default()))
                .crash_hook(stop_at(i))
                .start()
                .await
                .expect("the child's executor starts");
            let id = h
                .start_saga("trip", 1, &crate::support::Trip::default())
                .await
                .expect("the saga starts");
            say(&format!("saga {i} {id}"));
            h
        }
    });
    futures::future::join_all(starts).await
}

async fn worker_child(spec: &Spec, owner: &str, sagas: usize, delay: Delay) -> ExecutorHandle {
    let pool = spec.db.pool(8).await;
    let fx = Effects::open(&pool, &spec.effects_table());
    let h = Executor::builder(pool.database())
        .config(config(&spec.prefix, owner, spec.lease()))
        .register(trip::trip(&fx, Scenario::Completes, delay))
        .start()
        .await
        .expect("the worker's executor starts");
    let initial = crate::support::Trip::default();
    for chunk in (0..sagas).collect::<Vec<_>>().chunks(50) {
        let starts = chunk.iter().map(|_| h.start_saga("trip", 1, &initial));
        for r in futures::future::join_all(starts).await {
            r.expect("the saga starts");
        }
    }
    say(&format!("started {sagas}"));
    h
}

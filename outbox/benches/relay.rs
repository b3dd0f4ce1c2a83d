//! Relay throughput on this machine, ballast beside a bare relay loop in the
//! same run (STYLE section 8: report ratios, absolute rates are noise on a
//! shared machine).
//!
//! ```text
//! eval "$(scripts/services)"
//! cargo bench -p ballast-outbox --features nats --bench relay
//! ```
//!
//! Environment: `BALLAST_PG_URL`, `BALLAST_NATS_URL` (a scenario that needs
//! an unset one is skipped with a printed line), `BENCH_MESSAGES`
//! (1,000,000), `BENCH_KEYS` (10,000), `BENCH_BATCHES` ("1,100,1000"),
//! `BENCH_BATCH1_CAP` (20,000: batch size 1 drains at most this many),
//! `BENCH_CONCURRENCY` (8: batches in flight, for ballast and the bare
//! loop alike), `BENCH_PARTITIONS` (64), `BENCH_WRITERS` ("1,2,4,8,16,32"),
//! `BENCH_STEADY_SECS` (5), `BENCH_NOTIFY_SECS` (3), `BENCH_SKIP`
//! (comma-separated sections to leave out: drain, held, steady, notify),
//! `BENCH_RESCAN_MS` (1000: the relay's rescan interval in the drains; a
//! large value shows the drains without rescans).
//!
//! Sections:
//! - fill: the backlog written with `enqueue_all` (enqueue throughput);
//!   every drain then starts from a copy of it in a fresh table.
//! - drain: ballast's relay to a counting publisher and to JetStream; the
//!   bare loop (claim `SKIP LOCKED`, publish pipelined, delete, commit) and
//!   its halves alone, with the same batch size, partitions and concurrency.
//! - held: the drain again with a transaction held open for the whole run.
//! - steady: W writers enqueue one message per transaction while the relay
//!   runs; does the relay keep up?
//! - notify: enqueue throughput with W writers, conditional NOTIFY (relay
//!   busy / idle) beside a bare INSERT with and without `pg_notify`.

use async_nats::jetstream::{self, message::PublishMessage, stream};
use ballast_outbox::publish::JetStreamPublisher;
use ballast_outbox::{
    Config, Envelope, Message, Outbox, PublishError, Publisher, Relay, RelayConfig,
};
use bytes::Bytes;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row as _};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const PAYLOAD: usize = 128;

fn main() -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

struct Settings {
    pg: Option<String>,
    nats: Option<String>,
    messages: u64,
    keys: u64,
    batches: Vec<u32>,
    batch1_cap: u64,
    concurrency: u32,
    partitions: u32,
    writers: Vec<u32>,
    steady: Duration,
    notify: Duration,
    skip: Vec<String>,
    run: String,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.replace(['_', ','], ""))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &str) -> Vec<u32> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect()
}

impl Settings {
    fn from_env() -> Self {
        Settings {
            pg: std::env::var("BALLAST_PG_URL").ok(),
            nats: std::env::var("BALLAST_NATS_URL").ok(),
            messages: env_u64("BENCH_MESSAGES", 1_000_000),
            keys: env_u64("BENCH_KEYS", 10_000).max(1),
            batches: env_list("BENCH_BATCHES", "1,100,1000"),
            batch1_cap: env_u64("BENCH_BATCH1_CAP", 20_000),
            concurrency: env_u64("BENCH_CONCURRENCY", 8).max(1) as u32,
            partitions: env_u64("BENCH_PARTITIONS", 64).max(1) as u32,
            writers: env_list("BENCH_WRITERS", "1,2,4,8,16,32"),
            steady: Duration::from_secs(env_u64("BENCH_STEADY_SECS", 5)),
            notify: Duration::from_secs(env_u64("BENCH_NOTIFY_SECS", 3)),
            skip: std::env::var("BENCH_SKIP")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .collect(),
            run: format!("bench{}", std::process::id()),
        }
    }

    fn wants(&self, section: &str) -> bool {
        !self.skip.iter().any(|s| s == section)
    }

    /// How many messages a drain at batch size `batch` moves.
    fn drain_count(&self, batch: u32) -> u64 {
        if batch == 1 {
            self.messages.min(self.batch1_cap)
        } else {
            self.messages
        }
    }

    fn topic(&self) -> String {
        format!("{}.evt", self.run)
    }
}

/// One line of the report.
struct Line {
    section: &'static str,
    scenario: String,
    batch: String,
    messages: u64,
    secs: f64,
    ratio: Option<(f64, &'static str)>,
    note: String,
}

impl Line {
    fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.messages as f64 / self.secs
        } else {
            0.0
        }
    }
}

#[derive(Default)]
struct Report {
    lines: Vec<Line>,
    notes: Vec<String>,
}

impl Report {
    fn add(&mut self, line: Line) -> f64 {
        let rate = line.rate();
        println!(
            "  {:<8} {:<54} batch {:>5}  {:>9} msgs  {:>8.2} s  {:>10.0} msg/s {}",
            line.section, line.scenario, line.batch, line.messages, line.secs, rate, line.note
        );
        self.lines.push(line);
        rate
    }

    fn note(&mut self, text: String) {
        println!("  note: {text}");
        self.notes.push(text);
    }

    fn render(&self, s: &Settings) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "ballast-outbox relay bench  ({} messages, {} keys, {} partitions, {} batches in flight, batch-1 runs capped at {})",
            s.messages, s.keys, s.partitions, s.concurrency, s.batch1_cap
        );
        let _ = writeln!(
            out,
            "{:<8} {:<54} {:>6} {:>10} {:>9} {:>11} {:>18}  note",
            "section", "scenario", "batch", "messages", "seconds", "msgs/s", "ratio"
        );
        for l in &self.lines {
            let ratio = match l.ratio {
                Some((r, of)) => format!("{:.2} of {of}", r),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "{:<8} {:<54} {:>6} {:>10} {:>9.2} {:>11.0} {:>18}  {}",
                l.section,
                l.scenario,
                l.batch,
                l.messages,
                l.secs,
                l.rate(),
                ratio,
                l.note
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }
}

async fn run() -> Result<(), BoxError> {
    let s = Settings::from_env();
    let mut report = Report::default();
    let Some(pg_url) = s.pg.clone() else {
        println!(
            "relay bench: BALLAST_PG_URL is unset; every scenario needs PostgreSQL, skipping all"
        );
        return Ok(());
    };
    let js = match &s.nats {
        Some(url) => {
            let client = async_nats::connect(url).await?;
            // Room for every batch in flight to be fully pipelined (the
            // bare loop sends a whole batch before awaiting its acks; with
            // too few permits its tasks would wait on each other forever).
            let biggest = s.batches.iter().copied().max().unwrap_or(1) as usize;
            let inflight = (s.concurrency as usize * biggest * 2).max(5_000);
            Some(
                jetstream::ContextBuilder::new()
                    .max_ack_inflight(inflight)
                    .build(client),
            )
        }
        None => {
            println!("relay bench: BALLAST_NATS_URL is unset; JetStream scenarios are skipped");
            None
        }
    };
    let pool = PgPoolOptions::new()
        .max_connections(s.concurrency + 40)
        .connect(&pg_url)
        .await?;
    if let Ok(run) = std::env::var("BENCH_CLEANUP") {
        return clean_leftovers(&pool, js.as_ref(), &run).await;
    }
    let mut cleanup = Cleanup {
        pool: pool.clone(),
        js: js.clone(),
        tables: Vec::new(),
        streams: Vec::new(),
    };
    let result = scenarios(&s, &pool, js.as_ref(), &mut report, &mut cleanup).await;
    cleanup.run().await;
    if let Err(e) = &result {
        report.note(format!("the run stopped early: {e}"));
    }
    let text = report.render(&s);
    println!("\n{text}");
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "../target".into());
    let path = std::path::Path::new(&dir).join("outbox-bench.txt");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(&path, &text)?;
    println!("written to {}", path.display());
    result
}

/// Tables and streams made by the run, dropped at its end.
struct Cleanup {
    pool: PgPool,
    js: Option<jetstream::Context>,
    tables: Vec<String>,
    streams: Vec<String>,
}

impl Cleanup {
    async fn run(&mut self) {
        for t in self.tables.drain(..) {
            drop_tables(&self.pool, &t).await;
        }
        if let Some(js) = &self.js {
            for st in self.streams.drain(..) {
                let _ = js.delete_stream(&st).await;
            }
        }
    }
}

/// Drops the tables and deletes the streams an interrupted run left
/// (`BENCH_CLEANUP=bench<pid>`, the prefix its tables carry).
async fn clean_leftovers(
    pool: &PgPool,
    js: Option<&jetstream::Context>,
    run: &str,
) -> Result<(), BoxError> {
    if !run.starts_with("bench") || !run[5..].chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("BENCH_CLEANUP takes a run name like bench1234, not {run:?}").into());
    }
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE tablename LIKE $1")
            .bind(format!("{run}\\_%"))
            .fetch_all(pool)
            .await?;
    for t in &tables {
        sqlx::query(&format!("DROP TABLE IF EXISTS {t}"))
            .execute(pool)
            .await?;
    }
    println!("dropped {} tables of {run}", tables.len());
    if let Some(js) = js {
        use futures::StreamExt as _;
        let names: Vec<String> = js
            .stream_names()
            .filter_map(|n| async { n.ok() })
            .collect()
            .await;
        for n in names.iter().filter(|n| n.starts_with(&format!("{run}_"))) {
            js.delete_stream(n).await?;
            println!("deleted stream {n}");
        }
    }
    Ok(())
}

const SUFFIXES: [&str; 10] = [
    "",
    "_keys",
    "_leases",
    "_relays",
    "_held",
    "_dead",
    "_published",
    "_decisions",
    "_meta",
    "_version",
];

async fn drop_tables(pool: &PgPool, table: &str) {
    for suffix in SUFFIXES {
        let _ = sqlx::query(&format!("DROP TABLE IF EXISTS {table}{suffix}"))
            .execute(pool)
            .await;
    }
}

async fn scenarios(
    s: &Settings,
    pool: &PgPool,
    js: Option<&jetstream::Context>,
    report: &mut Report,
    cleanup: &mut Cleanup,
) -> Result<(), BoxError> {
    let mut names = Names {
        run: s.run.clone(),
        n: 0,
    };
    let needs_backlog = s.wants("drain") || s.wants("held");
    let max_drain = s
        .batches
        .iter()
        .map(|&b| s.drain_count(b))
        .max()
        .unwrap_or(0);
    let template = if needs_backlog && max_drain > 0 {
        let t = names.next();
        cleanup.tables.push(t.clone());
        let outbox = open(pool, &t, s.partitions).await?;
        let secs = fill(s, &outbox, max_drain).await?;
        report.add(Line {
            section: "fill",
            scenario: "enqueue_all, 5,000 per tx, 4 writers".into(),
            batch: "5000".into(),
            messages: max_drain,
            secs,
            ratio: None,
            note: "enqueue throughput".into(),
        });
        Some(t)
    } else {
        None
    };
    let mut last_js_drain: Option<(u32, f64)> = None;
    let mut last_counting_drain: Option<(u32, f64)> = None;
    let mut last_bare_drain: Option<(u32, f64)> = None;
    if s.wants("drain")
        && let Some(tpl) = &template
    {
        for &batch in &s.batches {
            let n = s.drain_count(batch);
            let d = Drain {
                s,
                pool,
                js,
                template: tpl,
                batch,
                n,
            };
            let counting = d.ballast_counting(&mut names, cleanup, None).await?;
            let claim_delete = d.bare(&mut names, cleanup, Bare::ClaimDelete).await?;
            let same_sql = d.bare(&mut names, cleanup, Bare::BallastSql).await?;
            report.add(line(
                "drain",
                "ballast: PG -> counting publisher",
                batch,
                n,
                counting,
                None,
            ));
            let cd_rate = report.add(line(
                "drain",
                "bare: claim + delete only (no publish)",
                batch,
                n,
                claim_delete,
                None,
            ));
            if let Some(l) = report.lines.iter_mut().rev().nth(1) {
                l.ratio = Some((l.rate() / cd_rate, "claim+delete"));
            }
            report.add(line(
                "drain",
                "bare: ballast's statements (+lease renew), no publish",
                batch,
                n,
                same_sql,
                Some((n as f64 / same_sql / cd_rate, "claim+delete")),
            ));
            last_counting_drain = Some((batch, n as f64 / counting));
            if js.is_some() {
                let ballast_js = d.ballast_js(&mut names, cleanup, None).await?;
                let bare_loop = d.bare(&mut names, cleanup, Bare::Loop).await?;
                let publish_only = d.publish_only(&mut names, cleanup).await?;
                let bare_rate = n as f64 / bare_loop;
                report.add(Line {
                    ratio: Some((n as f64 / ballast_js / bare_rate, "bare loop")),
                    ..line(
                        "drain",
                        "ballast: PG -> JetStream",
                        batch,
                        n,
                        ballast_js,
                        None,
                    )
                });
                report.add(line(
                    "drain",
                    "bare loop: claim, publish pipelined, delete",
                    batch,
                    n,
                    bare_loop,
                    None,
                ));
                report.add(line(
                    "drain",
                    "bare: pipelined publish only (no DB)",
                    batch,
                    n,
                    publish_only,
                    None,
                ));
                last_js_drain = Some((batch, n as f64 / ballast_js));
                last_bare_drain = Some((batch, bare_rate));
            } else {
                println!("  drain: JetStream scenarios skipped (BALLAST_NATS_URL unset)");
            }
        }
    }
    if s.wants("held")
        && let Some(tpl) = &template
    {
        let batch = *s.batches.iter().max().unwrap_or(&1000);
        let n = s.drain_count(batch);
        let d = Drain {
            s,
            pool,
            js,
            template: tpl,
            batch,
            n,
        };
        let holder = PgPoolOptions::new()
            .max_connections(1)
            .connect(s.pg.as_deref().unwrap_or_default())
            .await?;
        let held = Held::start(&holder).await?;
        let counting = d.ballast_counting(&mut names, cleanup, Some(&held)).await?;
        report.add(Line {
            ratio: last_counting_drain
                .filter(|(b, _)| *b == batch)
                .map(|(_, r)| (n as f64 / counting / r, "no held tx")),
            ..line(
                "held",
                "ballast: PG -> counting, a tx held open",
                batch,
                n,
                counting,
                None,
            )
        });
        if js.is_some() {
            let with_js = d.ballast_js(&mut names, cleanup, Some(&held)).await?;
            report.add(Line {
                ratio: last_js_drain
                    .filter(|(b, _)| *b == batch)
                    .map(|(_, r)| (n as f64 / with_js / r, "no held tx")),
                ..line(
                    "held",
                    "ballast: PG -> JetStream, a tx held open",
                    batch,
                    n,
                    with_js,
                    None,
                )
            });
            let bare = d.bare(&mut names, cleanup, Bare::Loop).await?;
            report.add(line(
                "held",
                "bare loop, a tx held open",
                batch,
                n,
                bare,
                last_bare_drain
                    .filter(|(b, _)| *b == batch)
                    .map(|(_, r)| (n as f64 / bare / r, "no held tx")),
            ));
        }
        held.end().await;
        holder.close().await;
    }
    if s.wants("steady") {
        for &batch in &s.batches {
            steady(s, pool, js, batch, &mut names, cleanup, report).await?;
        }
    }
    if s.wants("notify") {
        notify(s, pool, &mut names, cleanup, report).await?;
    }
    Ok(())
}

fn line(
    section: &'static str,
    scenario: &str,
    batch: u32,
    messages: u64,
    secs: f64,
    ratio: Option<(f64, &'static str)>,
) -> Line {
    Line {
        section,
        scenario: scenario.into(),
        batch: batch.to_string(),
        messages,
        secs,
        ratio,
        note: String::new(),
    }
}

struct Names {
    run: String,
    n: u32,
}

impl Names {
    fn next(&mut self) -> String {
        self.n += 1;
        format!("{}_{}", self.run, self.n)
    }
}

async fn open(pool: &PgPool, table: &str, partitions: u32) -> Result<Outbox<Postgres>, BoxError> {
    let config = Config::builder()
        .table(table)
        .partitions(partitions)
        .build()?;
    Ok(Outbox::new(pool.clone(), config).await?)
}

fn payload(i: u64) -> Bytes {
    let mut p = format!("{{\"n\":{i},\"pad\":\"");
    while p.len() < PAYLOAD - 2 {
        p.push('x');
    }
    p.push_str("\"}");
    Bytes::from(p)
}

/// Writes `n` messages over `keys` keys with `enqueue_all`, 5,000 per
/// transaction, 4 writers each owning a quarter of the keys (so they never
/// wait on each other's key rows). Returns the seconds taken.
async fn fill(s: &Settings, outbox: &Outbox<Postgres>, n: u64) -> Result<f64, BoxError> {
    const WRITERS: u64 = 4;
    const PER_TX: u64 = 5_000;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let outbox = outbox.clone();
        let (topic, keys) = (s.topic(), s.keys);
        tasks.spawn(async move {
            let mut i = w;
            while i < n {
                let mut tx = outbox.pool().begin().await?;
                let mut batch = Vec::with_capacity(PER_TX as usize);
                while i < n && (batch.len() as u64) < PER_TX {
                    batch.push(Message::new(
                        topic.clone(),
                        format!("k{}", i % keys),
                        payload(i),
                    ));
                    i += WRITERS;
                }
                outbox.enqueue_all(&mut tx, &batch).await?;
                tx.commit().await?;
            }
            Ok::<(), BoxError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Counts what it is given.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicU64>);

impl Publisher for Counting {
    async fn publish(&self, _envelope: &Envelope) -> Result<(), PublishError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn publish_message(id: &str, key: &str, seq: i64, payload: Bytes) -> PublishMessage {
    PublishMessage::build()
        .payload(payload)
        .message_id(id)
        .header("Ballast-Id", id)
        .header("Ballast-Key", key)
        .header("Ballast-Seq", seq.to_string().as_str())
}

async fn make_stream(s: &Settings, js: &jetstream::Context, name: &str) -> Result<(), BoxError> {
    let _ = js.delete_stream(name).await;
    js.create_stream(stream::Config {
        name: name.to_string(),
        subjects: vec![format!("{}.>", s.run)],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    Ok(())
}

/// A connection holding `BEGIN; SELECT txid_current();` open: it holds the
/// database's xmin back, so nothing deleted after it began can be vacuumed.
struct Held {
    tx: tokio::sync::Mutex<Option<sqlx::Transaction<'static, Postgres>>>,
}

impl Held {
    async fn start(pool: &PgPool) -> Result<Self, BoxError> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT txid_current()")
            .execute(&mut *tx)
            .await?;
        Ok(Held {
            tx: tokio::sync::Mutex::new(Some(tx)),
        })
    }

    async fn end(self) {
        if let Some(tx) = self.tx.lock().await.take() {
            let _ = tx.rollback().await;
        }
    }
}

/// What the bare loop does with a claimed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bare {
    /// Publish it to JetStream pipelined, delete it, commit.
    Loop,
    /// Delete it and commit, no publish.
    ClaimDelete,
    /// As `ClaimDelete` with the statements ballast's relay runs per batch:
    /// its lease renewal first, its claim (with the held-keys check and
    /// every column), so the gap between this and ballast is Rust-side.
    BallastSql,
}

struct Drain<'a> {
    s: &'a Settings,
    pool: &'a PgPool,
    js: Option<&'a jetstream::Context>,
    template: &'a str,
    batch: u32,
    n: u64,
}

impl Drain<'_> {
    /// A fresh outbox table holding the first `n` messages of the
    /// template, oldest first.
    async fn copy(
        &self,
        names: &mut Names,
        cleanup: &mut Cleanup,
    ) -> Result<(String, Outbox<Postgres>), BoxError> {
        let t = names.next();
        cleanup.tables.push(t.clone());
        let outbox = open(self.pool, &t, self.s.partitions).await?;
        sqlx::query(&format!(
            "INSERT INTO {t} SELECT * FROM {tpl} ORDER BY ts LIMIT $1",
            tpl = self.template
        ))
        .bind(self.n as i64)
        .execute(self.pool)
        .await?;
        sqlx::query(&format!("VACUUM ANALYZE {t}"))
            .execute(self.pool)
            .await?;
        Ok((t, outbox))
    }

    fn relay_config(&self) -> Result<RelayConfig, BoxError> {
        Ok(RelayConfig::builder()
            .batch_size(self.batch)
            .max_concurrent_batches(self.s.concurrency)
            .poll_interval(Duration::from_millis(50))
            .rescan_interval(Duration::from_millis(env_u64("BENCH_RESCAN_MS", 1000)))
            .build()?)
    }

    async fn ballast_counting(
        &self,
        names: &mut Names,
        cleanup: &mut Cleanup,
        _held: Option<&Held>,
    ) -> Result<f64, BoxError> {
        let (t, outbox) = self.copy(names, cleanup).await?;
        let secs = self.ballast(&outbox, Counting::default()).await?;
        drop_tables(self.pool, &t).await;
        Ok(secs)
    }

    async fn ballast_js(
        &self,
        names: &mut Names,
        cleanup: &mut Cleanup,
        _held: Option<&Held>,
    ) -> Result<f64, BoxError> {
        let js = self.js.ok_or("no JetStream")?;
        let (t, outbox) = self.copy(names, cleanup).await?;
        let stream = format!("{}_{}", self.s.run, names.n);
        cleanup.streams.push(stream.clone());
        make_stream(self.s, js, &stream).await?;
        let secs = self
            .ballast(&outbox, JetStreamPublisher::new(js.clone()))
            .await?;
        let info = js.get_stream(&stream).await?.get_info().await?;
        if info.state.messages != self.n {
            println!(
                "  warning: stream holds {} messages, expected {}",
                info.state.messages, self.n
            );
        }
        let _ = js.delete_stream(&stream).await;
        drop_tables(self.pool, &t).await;
        Ok(secs)
    }

    /// Starts the relay and waits until it has recorded every message.
    async fn ballast<P: Publisher>(
        &self,
        outbox: &Outbox<Postgres>,
        publisher: P,
    ) -> Result<f64, BoxError> {
        let start = Instant::now();
        let relay = Relay::start(outbox, publisher, self.relay_config()?);
        let limit = Duration::from_secs(900);
        loop {
            let stats = relay.stats();
            if stats.published >= self.n {
                break;
            }
            if start.elapsed() > limit {
                relay.shutdown().await;
                return Err(format!(
                    "ballast drained only {} of {} in {limit:?}",
                    stats.published, self.n
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let secs = start.elapsed().as_secs_f64();
        relay.shutdown().await;
        Ok(secs)
    }

    /// The bare loop, no ballast code: `concurrency` tasks, each owning the
    /// partitions congruent to its number and going round them: claim the
    /// oldest `batch` rows of one partition `FOR UPDATE SKIP LOCKED`,
    /// publish them pipelined (all sent, then all acks awaited) in
    /// [`Bare::Loop`], delete them, commit.
    async fn bare(
        &self,
        names: &mut Names,
        cleanup: &mut Cleanup,
        mode: Bare,
    ) -> Result<f64, BoxError> {
        let (t, _outbox) = self.copy(names, cleanup).await?;
        let stream = format!("{}_{}", self.s.run, names.n);
        let js = if mode == Bare::Loop {
            let js = self.js.ok_or("no JetStream")?;
            cleanup.streams.push(stream.clone());
            make_stream(self.s, js, &stream).await?;
            Some(js.clone())
        } else {
            None
        };
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let c = self.s.concurrency;
        let moved = Arc::new(AtomicU64::new(0));
        for task in 0..c {
            let mut mine: Vec<i32> = (0..self.s.partitions as i32)
                .filter(|p| *p as u32 % c == task)
                .collect();
            let (pool, js, t, batch, moved) = (
                self.pool.clone(),
                js.clone(),
                t.clone(),
                self.batch,
                Arc::clone(&moved),
            );
            tasks.spawn(async move {
                let claim = if mode == Bare::BallastSql {
                    format!(
                        "SELECT id, key, seq, topic, payload, headers, attempts, ts
                         FROM {t} o
                         WHERE partition = $1 AND ts >= COALESCE($3::bigint, '{min}'::bigint)
                           AND NOT EXISTS (SELECT 1 FROM {t}_held h WHERE h.key = o.key)
                         ORDER BY ts LIMIT $2 FOR UPDATE OF o SKIP LOCKED",
                        min = i64::MIN,
                    )
                } else {
                    format!(
                        "SELECT id, key, seq, topic, payload FROM {t} WHERE partition = $1 ORDER BY ts LIMIT $2 FOR UPDATE SKIP LOCKED"
                    )
                };
                let renew = format!(
                    "WITH quiet AS (SELECT set_config('idle_in_transaction_session_timeout', '5000ms', true))
                     UPDATE {t}_leases SET expires_at = now() + 10000 * interval '1 millisecond', idle = false
                     FROM quiet WHERE partition = $1"
                );
                let delete = format!("DELETE FROM {t} WHERE id = ANY($1)");
                let mut at = 0;
                while !mine.is_empty() {
                    at %= mine.len();
                    let partition = mine[at];
                    let mut tx = pool.begin().await?;
                    if mode == Bare::BallastSql {
                        sqlx::query(&renew).bind(partition).execute(&mut *tx).await?;
                    }
                    let rows = sqlx::query(&claim)
                        .bind(partition)
                        .bind(i64::from(batch))
                        .bind(None::<i64>)
                        .fetch_all(&mut *tx)
                        .await?;
                    if rows.is_empty() {
                        tx.commit().await?;
                        mine.remove(at);
                        continue;
                    }
                    let mut ids = Vec::with_capacity(rows.len());
                    let mut acks = Vec::with_capacity(rows.len());
                    for r in &rows {
                        let id: uuid::Uuid = r.get(0);
                        if let Some(js) = &js {
                            let (key, seq, topic, payload): (String, i64, String, Vec<u8>) =
                                (r.get(1), r.get(2), r.get(3), r.get(4));
                            acks.push(
                                js.send_publish(topic, publish_message(&id.to_string(), &key, seq, payload.into()))
                                    .await?,
                            );
                        }
                        ids.push(id);
                    }
                    for ack in acks {
                        ack.await?;
                    }
                    sqlx::query(&delete).bind(&ids).execute(&mut *tx).await?;
                    tx.commit().await?;
                    moved.fetch_add(ids.len() as u64, Ordering::Relaxed);
                    at += 1;
                }
                Ok::<(), BoxError>(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        let secs = start.elapsed().as_secs_f64();
        let moved = moved.load(Ordering::Relaxed);
        if moved != self.n {
            println!(
                "  warning: the bare loop moved {moved} messages, expected {}",
                self.n
            );
        }
        if let Some(js) = &js {
            let _ = js.delete_stream(&stream).await;
        }
        drop_tables(self.pool, &t).await;
        Ok(secs)
    }

    /// Pipelined publishing alone: `concurrency` tasks publish their share
    /// of `n` messages (the same keys, sizes and headers) in groups of
    /// `batch`, all sent then all acks awaited.
    async fn publish_only(
        &self,
        names: &mut Names,
        cleanup: &mut Cleanup,
    ) -> Result<f64, BoxError> {
        let js = self.js.ok_or("no JetStream")?.clone();
        let stream = format!("{}_{}", self.s.run, names.next());
        cleanup.streams.push(stream.clone());
        make_stream(self.s, &js, &stream).await?;
        let c = u64::from(self.s.concurrency);
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..c {
            let (js, topic, n, keys, batch) = (
                js.clone(),
                self.s.topic(),
                self.n,
                self.s.keys,
                self.batch as usize,
            );
            tasks.spawn(async move {
                let mut i = task;
                let mut acks = Vec::with_capacity(batch);
                while i < n {
                    let id = uuid::Uuid::now_v7().to_string();
                    let key = format!("k{}", i % keys);
                    acks.push(
                        js.send_publish(topic.clone(), publish_message(&id, &key, 1, payload(i)))
                            .await?,
                    );
                    i += c;
                    if acks.len() == batch || i >= n {
                        for ack in acks.drain(..) {
                            ack.await?;
                        }
                    }
                }
                Ok::<(), BoxError>(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        let secs = start.elapsed().as_secs_f64();
        let _ = js.delete_stream(&stream).await;
        Ok(secs)
    }
}

/// Steady state: W writers enqueue one message per transaction for a while
/// with the relay running; says whether the relay kept up.
async fn steady(
    s: &Settings,
    pool: &PgPool,
    js: Option<&jetstream::Context>,
    batch: u32,
    names: &mut Names,
    cleanup: &mut Cleanup,
    report: &mut Report,
) -> Result<(), BoxError> {
    let mut kinds: Vec<(&str, Option<jetstream::Context>)> = vec![("counting", None)];
    match js {
        Some(js) => kinds.push(("JetStream", Some(js.clone()))),
        None => println!("  steady: JetStream skipped (BALLAST_NATS_URL unset)"),
    }
    for (kind, js) in kinds {
        let t = names.next();
        cleanup.tables.push(t.clone());
        let outbox = open(pool, &t, s.partitions).await?;
        let config = RelayConfig::builder()
            .batch_size(batch)
            .max_concurrent_batches(s.concurrency)
            .poll_interval(Duration::from_millis(50))
            .build()?;
        let stream = format!("{}_{}s", s.run, names.n);
        let relay = match &js {
            Some(js) => {
                cleanup.streams.push(stream.clone());
                make_stream(s, js, &stream).await?;
                Relay::start(&outbox, JetStreamPublisher::new(js.clone()), config)
            }
            None => Relay::start(&outbox, Counting::default(), config),
        };
        // Counts the wake-ups writers send (NOTIFY only while the
        // partition's relay is idle).
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(&t).await?;
        let heard = Arc::new(AtomicU64::new(0));
        let listening = {
            let heard = Arc::clone(&heard);
            tokio::spawn(async move {
                while listener.recv().await.is_ok() {
                    heard.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        // Let the relay take its leases before writers start.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut total = 0u64;
        for &w in &s.writers {
            let base = relay.stats().published;
            let heard_before = heard.load(Ordering::Relaxed);
            let stop = Arc::new(AtomicBool::new(false));
            let enqueued = Arc::new(AtomicU64::new(0));
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..w {
                let (outbox, stop, enqueued, topic, keys) = (
                    outbox.clone(),
                    Arc::clone(&stop),
                    Arc::clone(&enqueued),
                    s.topic(),
                    s.keys,
                );
                tasks.spawn(async move {
                    let mut n = u64::from(i);
                    while !stop.load(Ordering::Relaxed) {
                        let m = Message::new(
                            topic.clone(),
                            format!("k{}", (n * 7919) % keys),
                            payload(n),
                        );
                        let mut tx = outbox.pool().begin().await?;
                        outbox.enqueue(&mut tx, &m).await?;
                        tx.commit().await?;
                        enqueued.fetch_add(1, Ordering::Relaxed);
                        n += u64::from(w);
                    }
                    Ok::<(), BoxError>(())
                });
            }
            let start = Instant::now();
            let mut max_lag = 0u64;
            while start.elapsed() < s.steady {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let lag = enqueued
                    .load(Ordering::Relaxed)
                    .saturating_sub(relay.stats().published - base);
                max_lag = max_lag.max(lag);
            }
            stop.store(true, Ordering::Relaxed);
            let secs = start.elapsed().as_secs_f64();
            let e_at_stop = enqueued.load(Ordering::Relaxed);
            let p_at_stop = relay.stats().published - base;
            while let Some(done) = tasks.join_next().await {
                done??;
            }
            let e = enqueued.load(Ordering::Relaxed);
            total += e;
            // How long the relay takes to clear what was left.
            let after = Instant::now();
            while relay.stats().published - base < e && after.elapsed() < Duration::from_secs(30) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let catch_up = after.elapsed().as_secs_f64();
            let lag = e_at_stop.saturating_sub(p_at_stop);
            let e_rate = e_at_stop as f64 / secs;
            // Kept up: what was waiting at the end is under a quarter
            // second of writes (or one round of batches).
            let bound = (e_rate * 0.25).max(f64::from(batch * s.concurrency));
            let kept_up = (lag as f64) <= bound;
            report.add(Line {
                section: "steady",
                scenario: format!("{w:>2} writers, relay -> {kind}"),
                batch: batch.to_string(),
                messages: e_at_stop,
                secs,
                ratio: None,
                note: format!(
                    "published {:.0}/s; lag at end {lag} (max {max_lag}), cleared in {catch_up:.2} s; {} NOTIFYs; {}",
                    p_at_stop as f64 / secs,
                    heard.load(Ordering::Relaxed) - heard_before,
                    if kept_up { "kept up" } else { "FELL BEHIND" }
                ),
            });
        }
        relay.shutdown().await;
        listening.abort();
        if let Some(js) = &js {
            let info = js.get_stream(&stream).await?.get_info().await?;
            if info.state.messages < total {
                println!(
                    "  warning: stream holds {} messages, {total} enqueued",
                    info.state.messages
                );
            }
            let _ = js.delete_stream(&stream).await;
        }
        drop_tables(pool, &t).await;
    }
    Ok(())
}

/// Enqueue throughput with W writers and no relay: the outbox's enqueue
/// with every partition marked busy (no NOTIFY) and marked idle (a NOTIFY
/// per transaction), beside a bare INSERT with and without `pg_notify`.
/// A listener is attached to both channels, as a relay would be.
async fn notify(
    s: &Settings,
    pool: &PgPool,
    names: &mut Names,
    cleanup: &mut Cleanup,
    report: &mut Report,
) -> Result<(), BoxError> {
    let t = names.next();
    cleanup.tables.push(t.clone());
    let outbox = open(pool, &t, s.partitions).await?;
    let bare = format!("{t}_bare");
    cleanup.tables.push(bare.clone());
    sqlx::query(&format!(
        "CREATE TABLE {bare} (id uuid PRIMARY KEY, key text NOT NULL, topic text NOT NULL, payload bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
    ))
    .execute(pool)
    .await?;
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen_all([t.as_str(), bare.as_str()]).await?;
    let heard = Arc::new(AtomicU64::new(0));
    let listening = {
        let heard = Arc::clone(&heard);
        tokio::spawn(async move {
            while listener.recv().await.is_ok() {
                heard.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let writers: Vec<u32> = [1u32, 4, 16]
        .into_iter()
        .chain(s.writers.iter().copied().filter(|w| *w > 16).take(1))
        .collect();
    for &w in &writers {
        let mut busy_rate = 0.0;
        for variant in 0..4 {
            let label = match variant {
                0 => "bare INSERT, no NOTIFY",
                1 => "bare INSERT + pg_notify every tx",
                2 => "ballast enqueue, relay busy (no NOTIFY)",
                _ => "ballast enqueue, relay idle (NOTIFY)",
            };
            if variant >= 2 {
                sqlx::query(&format!("UPDATE {t}_leases SET idle = $1"))
                    .bind(variant == 3)
                    .execute(pool)
                    .await?;
            }
            let heard_before = heard.load(Ordering::Relaxed);
            let stop = Arc::new(AtomicBool::new(false));
            let done = Arc::new(AtomicU64::new(0));
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..w {
                let (outbox, stop, done, topic, keys, bare, pool) = (
                    outbox.clone(),
                    Arc::clone(&stop),
                    Arc::clone(&done),
                    s.topic(),
                    s.keys,
                    bare.clone(),
                    pool.clone(),
                );
                tasks.spawn(async move {
                    let insert = format!("INSERT INTO {bare} (id, key, topic, payload) VALUES ($1, $2, $3, $4)");
                    let insert_notify = format!(
                        "WITH i AS (INSERT INTO {bare} (id, key, topic, payload) VALUES ($1, $2, $3, $4)) SELECT pg_notify('{bare}', '0')"
                    );
                    let mut n = u64::from(i);
                    while !stop.load(Ordering::Relaxed) {
                        let m = Message::new(topic.clone(), format!("k{}", (n * 7919) % keys), payload(n));
                        let mut tx = pool.begin().await?;
                        if variant < 2 {
                            sqlx::query(if variant == 0 { &insert } else { &insert_notify })
                                .bind(m.id())
                                .bind(m.key())
                                .bind(m.topic())
                                .bind(&m.payload()[..])
                                .execute(&mut *tx)
                                .await?;
                        } else {
                            outbox.enqueue(&mut tx, &m).await?;
                        }
                        tx.commit().await?;
                        done.fetch_add(1, Ordering::Relaxed);
                        n += u64::from(w);
                    }
                    Ok::<(), BoxError>(())
                });
            }
            let start = Instant::now();
            tokio::time::sleep(s.notify).await;
            stop.store(true, Ordering::Relaxed);
            let secs = start.elapsed().as_secs_f64();
            let n = done.load(Ordering::Relaxed);
            while let Some(r) = tasks.join_next().await {
                r??;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let notes = heard.load(Ordering::Relaxed) - heard_before;
            let rate = n as f64 / secs;
            let ratio = match variant {
                3 if busy_rate > 0.0 => Some((rate / busy_rate, "relay busy")),
                _ => None,
            };
            if variant == 2 {
                busy_rate = rate;
            }
            report.add(Line {
                section: "notify",
                scenario: format!("{w:>2} writers, {label}"),
                batch: "1".into(),
                messages: n,
                secs,
                ratio,
                note: format!("{notes} notifications heard"),
            });
        }
    }
    listening.abort();
    Ok(())
}

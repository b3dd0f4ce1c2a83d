//! Durability across crashes: a relay killed (SIGKILL of a child relay
//! process, or its task aborted in-process) before publishing, mid-batch,
//! and between publishing and marking. After a new relay starts, every
//! message arrives, and the duplicates carry the ids of the messages they
//! repeat, so the consumer's dedupe by id absorbs them.
//!
//! SQLite runs always; PostgreSQL needs BALLAST_PG_URL.

mod crashkit;
mod support;

use ballast_outbox::{Envelope, Message, Outbox, PublishError, Publisher, Relay, RelayConfig};
use crashkit::{Broker, Db, Fault, Spec};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The child relay's entry: a no-op unless the parent started this binary
/// as a child relay.
#[test]
fn child_relay() {
    crashkit::child_entry();
}

const MESSAGES: usize = 40;
const KEYS: usize = 4;
const BATCH: u64 = 10;

/// Where in a batch the relay dies.
#[derive(Debug, Clone, Copy)]
enum Point {
    /// The batch is claimed; nothing of it reached the broker.
    BeforePublishing,
    /// Half the batch reached the broker.
    MidBatch,
    /// The whole batch reached the broker; none of it was recorded.
    BetweenPublishingAndMarking,
}

impl Point {
    fn fault(self) -> Fault {
        match self {
            Point::BeforePublishing => Fault::Before(1),
            Point::MidBatch => Fault::Before(BATCH / 2 + 1),
            Point::BetweenPublishingAndMarking => Fault::After(BATCH),
        }
    }

    /// Messages at the broker when the relay dies: each one is published
    /// again by the next relay, with the same id.
    fn at_broker(self) -> usize {
        match self {
            Point::BeforePublishing => 0,
            Point::MidBatch => (BATCH / 2) as usize,
            Point::BetweenPublishingAndMarking => BATCH as usize,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kill {
    /// A child relay process, killed with SIGKILL.
    Sigkill,
    /// A relay in this process, its task aborted.
    Abort,
}

/// The outbox as the test's writer sees it.
enum Writer {
    Sqlite(Outbox<sqlx::Sqlite>),
    Postgres(Outbox<sqlx::Postgres>),
}

impl Writer {
    async fn open(spec: &Spec) -> Writer {
        match &spec.db {
            Db::Sqlite(path) => {
                let pool = ballast_outbox::sqlite::connect(path).await.unwrap();
                Writer::Sqlite(Outbox::new(pool, spec.config()).await.unwrap())
            }
            Db::Postgres(url) => {
                let pool = crashkit::pg_pool(url, 4).await;
                Writer::Postgres(Outbox::new(pool, spec.config()).await.unwrap())
            }
        }
    }

    /// One message per transaction, keys taking turns.
    async fn enqueue(&self, n: usize, keys: usize) -> HashSet<Uuid> {
        let mut ids = HashSet::new();
        for i in 0..n {
            let m = Message::new("t", format!("key-{}", i % keys), format!("{i}"));
            ids.insert(m.id());
            match self {
                Writer::Sqlite(o) => {
                    let mut tx = o.pool().begin().await.unwrap();
                    o.enqueue(&mut tx, &m).await.unwrap();
                    tx.commit().await.unwrap();
                }
                Writer::Postgres(o) => {
                    let mut tx = o.pool().begin().await.unwrap();
                    o.enqueue(&mut tx, &m).await.unwrap();
                    tx.commit().await.unwrap();
                }
            }
        }
        ids
    }

    async fn waiting(&self) -> u64 {
        match self {
            Writer::Sqlite(o) => o.backlog().await.unwrap().messages,
            Writer::Postgres(o) => o.backlog().await.unwrap().messages,
        }
    }

    async fn wait_empty(&self, limit: Duration) {
        let start = Instant::now();
        loop {
            let left = self.waiting().await;
            if left == 0 {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "{left} messages still in the outbox after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Kills a relay at `point`, starts another, and checks the consumer gets
/// everything once, in order, with exactly the killed batch's published
/// part repeated.
async fn crash_and_restart(db: Db, point: Point, kill: Kill) {
    crash_and_restart_as(db, point, kill, "second").await;
}

/// [`crash_and_restart`], the next relay named `next` (`"first"`: the
/// same name as the killed one, as a restarted process would be).
async fn crash_and_restart_as(db: Db, point: Point, kill: Kill, next: &str) {
    let started = Instant::now();
    let table = support::unique_table("crash");
    let mut spec = Spec::new(db, &table, "unused");
    // The kill must land before the stopped batch's time limit cuts it off
    // and records what was acknowledged: leave it ample room on a loaded
    // machine (the next relay then waits out a 4 s lease).
    spec.lease = Duration::from_secs(4);
    spec.publish_timeout = Duration::from_millis(1900);
    let writer = Writer::open(&spec).await;
    let expected = writer.enqueue(MESSAGES, KEYS).await;
    let broker = Broker::create(&spec).await;

    let first = spec.relay("first", point.fault());
    enum Running {
        Child(crashkit::Child),
        Task(ballast_outbox::RelayHandle),
    }
    let running = match kill {
        Kill::Sigkill => Running::Child(first.spawn()),
        Kill::Abort => Running::Task(first.start().await),
    };
    broker.wait_mark("stopped", Duration::from_secs(30)).await;
    // Calls of other keys started before the stop may still be appending.
    let settle = Instant::now();
    while broker.deliveries().await.len() < point.at_broker()
        && settle.elapsed() < Duration::from_millis(500)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        broker.deliveries().await.len(),
        point.at_broker(),
        "the relay stopped where the test put it"
    );
    assert_eq!(
        writer.waiting().await,
        MESSAGES as u64,
        "nothing was recorded as published before the kill"
    );
    match running {
        Running::Child(mut child) => {
            assert_eq!(child.kill(), Some(9), "the child died of SIGKILL");
        }
        Running::Task(handle) => handle.abort(),
    }
    let killed = Instant::now();

    let second = spec.relay(next, Fault::None);
    let keep = match kill {
        Kill::Sigkill => {
            let mut child = second.spawn();
            broker.wait_for(MESSAGES, Duration::from_secs(30)).await;
            child.assert_running();
            Running::Child(child)
        }
        Kill::Abort => {
            let handle = second.start().await;
            broker.wait_for(MESSAGES, Duration::from_secs(30)).await;
            Running::Task(handle)
        }
    };
    let recovered_in = killed.elapsed();
    if next == "first" {
        assert!(
            recovered_in < spec.lease,
            "a relay restarted under its old name resumes its partitions without waiting out the lease (took {recovered_in:?})"
        );
    }
    writer.wait_empty(Duration::from_secs(10)).await;
    let deliveries = broker.deliveries().await;
    let consumed = crashkit::consume(&deliveries, &expected);
    assert_eq!(
        consumed.duplicates,
        point.at_broker(),
        "exactly the killed batch's published messages came again, with their ids"
    );
    let from_first = deliveries.iter().filter(|d| d.relay == "first").count();
    if next != "first" {
        assert_eq!(from_first, point.at_broker());
    }
    eprintln!(
        "{point:?} {kill:?} then {next}: {} deliveries of {MESSAGES} messages, {} duplicates absorbed, all in {recovered_in:?} after the kill, {:?} in all",
        consumed.deliveries,
        consumed.duplicates,
        started.elapsed()
    );
    // Passed: stop the relay, then leave the shared database as it was.
    match keep {
        Running::Child(child) => drop(child),
        Running::Task(handle) => handle.abort(),
    }
    if let Db::Postgres(url) = &spec.db {
        let pool = crashkit::pg_pool(url, 2).await;
        support::drop_outbox_tables(&pool, &table).await;
        sqlx::query(&format!(
            "DROP TABLE IF EXISTS {table}_broker, {table}_broker_marks"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
}

fn sqlite_db(dir: &tempfile::TempDir) -> Db {
    Db::Sqlite(dir.path().join("outbox.db"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_relay_process_killed_before_publishing_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_restart(sqlite_db(&dir), Point::BeforePublishing, Kill::Sigkill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_relay_process_killed_mid_batch_loses_nothing_and_repeats_only_the_sent_half() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_restart(sqlite_db(&dir), Point::MidBatch, Kill::Sigkill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_relay_process_killed_between_publishing_and_marking_repeats_the_batch_with_its_ids()
{
    let dir = tempfile::tempdir().unwrap();
    crash_and_restart(
        sqlite_db(&dir),
        Point::BetweenPublishingAndMarking,
        Kill::Sigkill,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_relay_task_aborted_before_publishing_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_restart(sqlite_db(&dir), Point::BeforePublishing, Kill::Abort).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_relay_task_aborted_mid_batch_loses_nothing_and_repeats_only_the_sent_half() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_restart(sqlite_db(&dir), Point::MidBatch, Kill::Abort).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_relay_task_aborted_between_publishing_and_marking_repeats_the_batch_with_its_ids() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_restart(
        sqlite_db(&dir),
        Point::BetweenPublishingAndMarking,
        Kill::Abort,
    )
    .await;
}

fn pg(test: &str) -> Option<Db> {
    support::service("BALLAST_PG_URL", test).map(Db::Postgres)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_process_killed_before_publishing_loses_nothing() {
    let Some(db) = pg("pg_kill_before") else {
        return;
    };
    crash_and_restart(db, Point::BeforePublishing, Kill::Sigkill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_process_killed_mid_batch_loses_nothing_and_repeats_only_the_sent_half() {
    let Some(db) = pg("pg_kill_mid") else {
        return;
    };
    crash_and_restart(db, Point::MidBatch, Kill::Sigkill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_process_killed_between_publishing_and_marking_repeats_the_batch_with_its_ids()
 {
    let Some(db) = pg("pg_kill_between") else {
        return;
    };
    crash_and_restart(db, Point::BetweenPublishingAndMarking, Kill::Sigkill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_task_aborted_before_publishing_loses_nothing() {
    let Some(db) = pg("pg_abort_before") else {
        return;
    };
    crash_and_restart(db, Point::BeforePublishing, Kill::Abort).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_task_aborted_mid_batch_loses_nothing_and_repeats_only_the_sent_half() {
    let Some(db) = pg("pg_abort_mid") else {
        return;
    };
    crash_and_restart(db, Point::MidBatch, Kill::Abort).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_task_aborted_between_publishing_and_marking_repeats_the_batch_with_its_ids()
{
    let Some(db) = pg("pg_abort_between") else {
        return;
    };
    crash_and_restart(db, Point::BetweenPublishingAndMarking, Kill::Abort).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_relay_process_restarted_under_its_name_after_sigkill_resumes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_restart_as(sqlite_db(&dir), Point::MidBatch, Kill::Sigkill, "first").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_process_restarted_under_its_name_after_sigkill_resumes_at_once() {
    let Some(db) = pg("pg_kill_same_name") else {
        return;
    };
    crash_and_restart_as(db, Point::MidBatch, Kill::Sigkill, "first").await;
}

/// With NATS JetStream as the broker (feature `nats`, BALLAST_NATS_URL): a
/// relay process publishes a whole batch, the stream acknowledges it, and
/// the relay is SIGKILLed before recording it. The next relay publishes
/// those messages again with the same `Nats-Msg-Id`, and the stream's
/// duplicate window drops them: it holds each message once, in key order.
#[cfg(feature = "nats")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_drops_the_batch_a_sigkilled_relay_published_but_never_recorded() {
    use async_nats::jetstream::{self, stream};
    let Some(url) = support::service("BALLAST_NATS_URL", "jetstream_sigkill") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = support::unique_table("jsk");
    let mut spec = Spec::new(sqlite_db(&dir), &name, "unused");
    spec.lease = Duration::from_secs(4);
    spec.publish_timeout = Duration::from_millis(1900);
    spec.nats = Some((url.clone(), format!("{name}.")));
    let js = jetstream::new(async_nats::connect(&url).await.unwrap());
    let mut s = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{name}.>")],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .unwrap();
    let writer = Writer::open(&spec).await;
    let expected = writer.enqueue(MESSAGES, KEYS).await;
    let marks = Broker::create(&spec).await;

    let mut first = spec.relay("first", Fault::After(BATCH)).spawn();
    marks.wait_mark("stopped", Duration::from_secs(30)).await;
    let settle = Instant::now();
    while s.info().await.unwrap().state.messages < BATCH
        && settle.elapsed() < Duration::from_millis(500)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        s.info().await.unwrap().state.messages,
        BATCH,
        "the stream acknowledged the whole first batch"
    );
    assert_eq!(
        writer.waiting().await,
        MESSAGES as u64,
        "the relay recorded none of it"
    );
    assert_eq!(first.kill(), Some(9));

    // The next relay publishes every message, the first batch again.
    let mut second = spec.relay("second", Fault::None).spawn();
    writer.wait_empty(Duration::from_secs(30)).await;
    second.assert_running();
    let state = s.info().await.unwrap().state.clone();
    assert_eq!(
        (state.messages, state.last_sequence),
        (MESSAGES as u64, MESSAGES as u64),
        "the stream stored each message once: the republished batch was dropped as duplicates"
    );
    let mut deliveries = Vec::new();
    for seq in 1..=state.last_sequence {
        let m = s.get_raw_message(seq).await.unwrap();
        let h = |n: &str| m.headers.get(n).unwrap().as_str().to_owned();
        deliveries.push(crashkit::Delivery {
            id: h("Nats-Msg-Id").parse().unwrap(),
            key: h("Ballast-Key"),
            seq: h("Ballast-Seq").parse().unwrap(),
            relay: String::new(),
        });
    }
    let consumed = crashkit::consume(&deliveries, &expected);
    assert_eq!(consumed.duplicates, 0);
    js.delete_stream(&name).await.unwrap();
    eprintln!(
        "jetstream: {BATCH} messages published twice, stream holds {} of {MESSAGES}",
        state.messages
    );
}

/// Never answers its first call; records the others.
#[derive(Clone, Default)]
struct HangsOnce {
    hung: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Envelope>>>,
}

impl Publisher for HangsOnce {
    async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        // Relaxed: one flag, read and set in one step.
        if !self.hung.swap(true, Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
        self.seen.lock().push(envelope.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_that_never_answers_is_given_up_at_the_publish_timeout_and_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(sqlite_db(&dir), &support::unique_table("hang"), "r");
    let writer = Writer::open(&spec).await;
    let expected = writer.enqueue(5, 1).await;
    let Writer::Sqlite(outbox) = &writer else {
        unreachable!()
    };
    let publisher = HangsOnce::default();
    let config = RelayConfig::builder()
        .lease_ttl(Duration::from_secs(2))
        .publish_timeout(Duration::from_millis(300))
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let relay = Relay::start(outbox, publisher.clone(), config);
    let start = Instant::now();
    while publisher.seen.lock().len() < expected.len() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "a hung publish holds its key forever: {} of {} arrived",
            publisher.seen.lock().len(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.shutdown().await;
    let seen = publisher.seen.lock().clone();
    assert_eq!(support::check_key_order(&seen), 0);
    let ids: HashSet<Uuid> = seen.iter().map(|e| e.id).collect();
    assert_eq!(ids, expected);
}

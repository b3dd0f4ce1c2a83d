//! The ordering test on a real PostgreSQL (BALLAST_PG_URL): three relay
//! processes, 100,000 messages over 1,000 keys from concurrent writers, one
//! relay killed with SIGKILL and one stopped (SIGSTOP) past its lease and
//! resumed, midway. Every message arrives, per-key order holds at the
//! consumer once duplicates are dropped by id, and no relay writes anything
//! for a partition after it lost the lease.
//!
//! BALLAST_ORDERING_MESSAGES overrides the message count for quick runs.

mod crashkit;
mod support;

use ballast_outbox::{Message, Outbox};
use crashkit::{Broker, Db, Fault, Spec};
use sqlx::Row as _;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The child relay's entry: a no-op unless the parent started this binary
/// as a child relay.
#[test]
fn child_relay() {
    crashkit::child_entry();
}

const KEYS: usize = 1000;
const WRITERS: usize = 8;
const PARTITIONS: u32 = 16;

fn messages() -> usize {
    std::env::var("BALLAST_ORDERING_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Writer `w` enqueues its share: even writers one message per
/// transaction, odd writers `enqueue_all` batches of 1 to 100.
async fn write(outbox: Outbox<sqlx::Postgres>, w: usize, count: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(count);
    let key = |i: usize| format!("key-{}", (w * 7919 + i * 31) % KEYS);
    let mut i = 0;
    while i < count {
        let n = if w.is_multiple_of(2) {
            1
        } else {
            (1 + (i * 37 + w) % 100).min(count - i)
        };
        let batch: Vec<Message> = (i..i + n)
            .map(|j| Message::new("t", key(j), format!("{w}/{j}")))
            .collect();
        ids.extend(batch.iter().map(Message::id));
        let mut tx = outbox.pool().begin().await.unwrap();
        if n == 1 {
            outbox.enqueue(&mut tx, &batch[0]).await.unwrap();
        } else {
            outbox.enqueue_all(&mut tx, &batch).await.unwrap();
        }
        tx.commit().await.unwrap();
        i += n;
    }
    ids
}

/// Rows the broker holds (with duplicates).
async fn appended(pool: &sqlx::PgPool, broker: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {broker}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn wait_appended(pool: &sqlx::PgPool, broker: &str, n: i64, what: &str, start: Instant) {
    while appended(pool, broker).await < n {
        assert!(
            start.elapsed() < Duration::from_secs(170),
            "the relays stalled before {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_relay_processes_one_killed_one_stopped_past_its_lease_deliver_all_in_key_order_and_fenced()
 {
    let Some(url) = support::service("BALLAST_PG_URL", "ordering") else {
        return;
    };
    let total = messages();
    let start = Instant::now();
    let table = support::unique_table("ord");
    let mut spec = Spec::new(Db::Postgres(url.clone()), &table, "unused");
    spec.partitions = PARTITIONS;
    spec.batch = 100;
    spec.lease = Duration::from_secs(2);
    spec.publish_timeout = Duration::from_millis(900);
    spec.pool = 8;
    let pool = crashkit::pg_pool(&url, 12).await;
    let outbox = Outbox::new(pool.clone(), spec.config()).await.unwrap();
    Broker::create(&spec).await;
    let broker_table = format!("{table}_broker");

    let mut relays: Vec<crashkit::Child> = ["r-a", "r-b", "r-c"]
        .iter()
        .map(|id| spec.relay(id, Fault::None).spawn())
        .collect();

    // Who held which (partition, epoch), sampled from the lease table.
    let (stop_sampling, mut sampling) = tokio::sync::watch::channel(false);
    let sampler = {
        let pool = pool.clone();
        let leases = format!("{table}_leases");
        tokio::spawn(async move {
            let mut seen: HashMap<(i32, i64), (String, Duration)> = HashMap::new();
            loop {
                let rows = sqlx::query(&format!(
                    "SELECT partition, epoch, owner FROM {leases} WHERE owner IS NOT NULL"
                ))
                .fetch_all(&pool)
                .await;
                if let Ok(rows) = rows {
                    for r in rows {
                        seen.entry((r.get(0), r.get(1)))
                            .or_insert_with(|| (r.get(2), start.elapsed()));
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = sampling.changed() => break,
                }
            }
            seen
        })
    };

    // A writer's one-per-transaction commits are serial, each a WAL flush
    // (about 5 ms here under load; 12,500 of them would take a writer over
    // a minute), so those writers carry a tenth of the messages and the
    // batch writers the rest.
    let singles = total / 10;
    let shares: Vec<usize> = (0..WRITERS)
        .map(|w| {
            let (of, n) = if w.is_multiple_of(2) {
                (singles, WRITERS / 2)
            } else {
                (total - singles, WRITERS / 2)
            };
            let i = w / 2;
            of / n + usize::from(i < of % n)
        })
        .collect();
    assert_eq!(shares.iter().sum::<usize>(), total);
    let writers: Vec<_> = shares
        .iter()
        .enumerate()
        .map(|(w, &share)| tokio::spawn(write(outbox.clone(), w, share)))
        .collect();

    // Midway: SIGKILL one relay; then SIGSTOP another past its lease.
    let third = (total / 3) as i64;
    wait_appended(&pool, &broker_table, third, "the kill", start).await;
    let killed_at = start.elapsed();
    assert_eq!(relays[0].kill(), Some(9));
    wait_appended(&pool, &broker_table, third * 3 / 2, "the stop", start).await;
    relays[1].stop();
    let stopped_at = start.elapsed();
    tokio::time::sleep(spec.lease * 5 / 2).await;
    relays[1].resume();
    let resumed_at = start.elapsed();

    let mut expected: HashSet<Uuid> = HashSet::with_capacity(total);
    for w in writers {
        expected.extend(w.await.unwrap());
    }
    let enqueued_in = start.elapsed();
    assert_eq!(expected.len(), total);

    // Every id at the broker, and the hot table empty.
    loop {
        let distinct: i64 =
            sqlx::query_scalar(&format!("SELECT count(DISTINCT id) FROM {broker_table}"))
                .fetch_one(&pool)
                .await
                .unwrap();
        let waiting = outbox.backlog().await.unwrap().messages;
        if distinct as usize >= total && waiting == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(170),
            "{distinct} of {total} arrived, {waiting} still waiting"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let delivered_in = start.elapsed();
    relays[1].assert_running();
    relays[2].assert_running();
    for r in &mut relays {
        r.kill();
    }
    let _ = stop_sampling.send(true);
    let sampled = sampler.await.unwrap();

    // The consumer: dedupe by id, per-key order, nothing missing.
    let broker = crashkit::Broker::connect(&spec).await;
    let deliveries = broker.deliveries().await;
    let consumed = crashkit::consume(&deliveries, &expected);
    let mut by_relay: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &deliveries {
        *by_relay.entry(d.relay.as_str()).or_default() += 1;
    }

    // Fencing: each message moved to the published table once; within a
    // partition (whose batches the lease row lock serialises, so `n` is
    // commit order) epochs never go down; each epoch was one relay's, and
    // the relay the lease table showed holding it.
    let rows = sqlx::query(&format!(
        "SELECT partition, epoch, relay, id FROM {table}_published ORDER BY partition, n"
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), total, "each message recorded published once");
    let ids: HashSet<Uuid> = rows.iter().map(|r| r.get::<Uuid, _>(3)).collect();
    assert_eq!(ids, expected);
    let mut last: HashMap<i32, i64> = HashMap::new();
    let mut holder: HashMap<(i32, i64), String> = HashMap::new();
    for r in &rows {
        let (partition, epoch, relay): (i32, i64, String) = (r.get(0), r.get(1), r.get(2));
        let prev = last.insert(partition, epoch).unwrap_or(0);
        assert!(
            epoch >= prev,
            "partition {partition}: {relay} wrote with epoch {epoch} after epoch {prev} had written"
        );
        let first = holder.entry((partition, epoch)).or_insert(relay.clone());
        assert_eq!(
            *first, relay,
            "partition {partition} epoch {epoch} written by two relays"
        );
        if let Some((owner, _)) = sampled.get(&(partition, epoch)) {
            assert_eq!(
                *owner, relay,
                "partition {partition} epoch {epoch} was {owner}'s lease, but {relay} wrote"
            );
        }
    }
    // The stop really outlasted the lease: partitions r-b held were taken
    // by another relay while it was stopped.
    let taken_from_stopped = sampled
        .iter()
        .filter(|((p, e), (owner, at))| {
            owner != "r-b"
                && (stopped_at..resumed_at).contains(at)
                && sampled
                    .iter()
                    .any(|((p0, e0), (o0, _))| p0 == p && e0 < e && o0 == "r-b")
        })
        .count();
    assert!(
        taken_from_stopped > 0,
        "no lease of the stopped relay was taken over while it was stopped"
    );
    let epochs: i64 = sqlx::query_scalar(&format!("SELECT sum(epoch)::bigint FROM {table}_leases"))
        .fetch_one(&pool)
        .await
        .unwrap();
    let unsampled = holder.keys().filter(|k| !sampled.contains_key(k)).count();
    // The tables are large: drop them once the test passed.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE $1",
    )
    .bind(format!("{table}%"))
    .fetch_all(&pool)
    .await
    .unwrap();
    for t in tables {
        sqlx::query(&format!("DROP TABLE IF EXISTS {t}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    eprintln!(
        "ordering: {total} messages, {KEYS} keys, {PARTITIONS} partitions; enqueued in {enqueued_in:?}, \
         all delivered in {delivered_in:?} (SIGKILL r-a at {killed_at:?}, SIGSTOP r-b at {stopped_at:?} for {:?}, {taken_from_stopped} of its leases taken meanwhile); \
         {} deliveries, {} duplicates dropped by id; per relay {by_relay:?}; \
         leases taken {epochs} times over {PARTITIONS} partitions ({} epochs wrote, {unsampled} of them not seen by the sampler)",
        spec.lease * 5 / 2,
        consumed.deliveries,
        consumed.duplicates,
        holder.len(),
    );
}

//! Three executor processes share one PostgreSQL database and 1,000
//! sagas. Midway one is killed (SIGKILL) and one is stopped (SIGSTOP)
//! until well past its lease, then resumed (SIGCONT). Every saga
//! completes; no log entry is written under a stale epoch (per saga the
//! epochs never go back, and the stopped process wrote nothing, after it
//! woke, to a saga taken from it); each step succeeded once in the log
//! and its effect was applied once at the services (counted by
//! idempotency key), however many calls carried that key.
//!
//! Needs BALLAST_PG_URL.

mod proc;
mod support;

use proc::effects::Effects;
use proc::trip::Delay;
use proc::{Child, Db, Role, Spec};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The child's entry: a no-op unless the parent started this binary as a
/// child executor.
#[test]
fn child_executor() {
    proc::child_entry();
}

const SAGAS: [usize; 3] = [334, 333, 333];
const LEASE: Duration = Duration::from_millis(1500);
const LIMIT: Duration = Duration::from_secs(60);

async fn scalar(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Active sagas `owner` holds, with their epochs.
async fn held(pool: &sqlx::PgPool, sagas: &str, owner: &str) -> HashMap<uuid::Uuid, i64> {
    sqlx::query_as(&format!(
        "SELECT id, epoch FROM {sagas} WHERE owner = $1 AND status IN ('running', 'compensating')"
    ))
    .bind(owner)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// The sagas of `before` whose epoch moved on: another executor took
/// them over.
async fn taken(
    pool: &sqlx::PgPool,
    sagas: &str,
    before: &HashMap<uuid::Uuid, i64>,
) -> HashMap<uuid::Uuid, i64> {
    let now: HashMap<uuid::Uuid, i64> = sqlx::query_as(&format!("SELECT id, epoch FROM {sagas}"))
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    before
        .iter()
        .filter(|(id, e)| now.get(*id).is_some_and(|n| n > *e))
        .map(|(id, e)| (*id, *e))
        .collect()
}

async fn wait_until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_executor_processes_one_killed_one_stopped_finish_1000_sagas_with_no_stale_write() {
    let Some(url) = support::service("BALLAST_PG_URL", "multi-executor") else {
        return;
    };
    let started = Instant::now();
    let db = Db::Postgres(url.clone());
    let pool = db.pool(4).await;
    let proc::Pool::Postgres(pg) = pool.clone() else {
        unreachable!()
    };
    let prefix = proc::prefix("mx");
    let (sagas, log) = (format!("{prefix}_sagas"), format!("{prefix}_log"));
    let spec = |owner: &str, n: usize| Spec {
        db: db.clone(),
        prefix: prefix.clone(),
        lease_ms: LEASE.as_millis() as u64,
        role: Role::Worker {
            owner: owner.into(),
            sagas: n,
            delay: Delay { lo: 50, hi: 250 },
        },
    };
    let fx = Effects::create(&pool, &spec("", 0).effects_table()).await;
    // The tables, before three processes start on them.
    let config = proc::config(&prefix, "reader", LEASE);
    ballast_saga::Operator::open(pool.database(), &config)
        .await
        .expect("the saga tables are made");

    let mut children: Vec<Child> = ["a", "b", "c"]
        .iter()
        .zip(SAGAS)
        .map(|(owner, n)| spec(owner, n).spawn())
        .collect();
    for c in &mut children {
        c.expect("started", 1, LIMIT);
    }
    let total: i64 = SAGAS.iter().sum::<usize>() as i64;
    assert_eq!(
        scalar(&pg, &format!("SELECT count(*) FROM {sagas}")).await,
        total
    );
    let completed = format!("SELECT count(*) FROM {sagas} WHERE status = 'completed'");
    // Midway means some sagas are done while A and B still hold some: a
    // fixed share done is not enough, since a fast process can finish all
    // of its own sagas before the others reach it.
    wait_until(
        "a twentieth of the sagas complete, A and B still holding some",
        LIMIT,
        async || {
            scalar(&pg, &completed).await >= total / 20
                && !held(&pg, &sagas, "a").await.is_empty()
                && !held(&pg, &sagas, "b").await.is_empty()
        },
    )
    .await;

    // Midway: A dies, B freezes.
    let done_at_kill = scalar(&pg, &completed).await;
    let (mut a, b) = {
        let mut it = children.drain(..2);
        (it.next().unwrap(), it.next().unwrap())
    };
    let c = children.pop().unwrap();
    b.stop();
    let held_by_b = held(&pg, &sagas, "b").await;
    assert_eq!(a.kill(), Some(9), "A died of SIGKILL");
    let held_by_a = held(&pg, &sagas, "a").await;
    assert!(
        !held_by_a.is_empty() && !held_by_b.is_empty(),
        "A and B held sagas when they stopped ({} and {}; {done_at_kill} of {total} done)",
        held_by_a.len(),
        held_by_b.len()
    );
    // C takes A's sagas and B's (but those B holds a row lock on, in a
    // transaction it was frozen in: they are B's until it commits).
    wait_until("C takes over A's sagas", LIMIT, async || {
        taken(&pg, &sagas, &held_by_a).await.len() == held_by_a.len()
    })
    .await;
    tokio::time::sleep(LEASE * 2).await;
    let taken_from_b = taken(&pg, &sagas, &held_by_b).await;
    assert!(
        !taken_from_b.is_empty(),
        "C took over sagas of the stopped B"
    );
    let woke_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    b.resume();

    wait_until("every saga completes", LIMIT, async || {
        scalar(&pg, &completed).await == total
    })
    .await;
    // B had a moment to try its fenced writes.
    tokio::time::sleep(LEASE).await;

    // No entry under a stale epoch: per saga, in log order, the epoch never
    // goes back, and no entry is newer than the saga's row.
    let back = scalar(
        &pg,
        &format!(
            "SELECT count(*) FROM (
                 SELECT epoch < max(epoch) OVER (PARTITION BY saga_id ORDER BY n
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS back
                 FROM {log}) x
             WHERE back"
        ),
    )
    .await;
    assert_eq!(
        back, 0,
        "entries written under an older epoch after a newer one"
    );
    let ahead = scalar(
        &pg,
        &format!(
            "SELECT count(*) FROM {log} l JOIN {sagas} s ON s.id = l.saga_id WHERE l.epoch > s.epoch"
        ),
    )
    .await;
    assert_eq!(ahead, 0, "entries under an epoch the saga's row never had");
    // Nothing B wrote after it woke reached a saga taken from it.
    let mut late = 0;
    for (id, epoch) in &taken_from_b {
        late += scalar(
            &pg,
            &format!(
                "SELECT count(*) FROM {log} WHERE saga_id = '{id}' AND epoch = {epoch} AND at >= {woke_ms}"
            ),
        )
        .await;
    }
    assert_eq!(late, 0, "B wrote to sagas taken from it after it woke");

    // Every saga completed each step once, and the services applied each
    // effect once under its one key.
    let twice = scalar(
        &pg,
        &format!(
            "SELECT count(*) FROM (SELECT 1 FROM {log} WHERE kind = 'step_succeeded'
             GROUP BY saga_id, step HAVING count(*) > 1) x"
        ),
    )
    .await;
    assert_eq!(twice, 0, "a step succeeded twice in one saga's log");
    let full = scalar(
        &pg,
        &format!(
            "SELECT count(*) FROM {sagas}
             WHERE status = 'completed' AND state -> 'done' = '[\"flight\", \"hotel\", \"payment\", \"confirm\"]'::jsonb"
        ),
    )
    .await;
    assert_eq!(
        full, total,
        "every saga's state has each step once, in order"
    );
    let effects = fx.all().await;
    let mut per_saga: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in &effects {
        per_saga.entry(&e.saga).or_default().push(&e.what);
    }
    assert_eq!(per_saga.len() as i64, total, "effects of every saga");
    for (saga, whats) in &mut per_saga {
        whats.sort();
        assert_eq!(
            *whats,
            ["confirm", "flight", "hotel", "payment"],
            "saga {saga}: each effect once"
        );
    }
    let again = effects.iter().filter(|e| e.calls > 1).count();
    let resumed = scalar(
        &pg,
        &format!("SELECT count(DISTINCT saga_id) FROM {log} WHERE epoch > 1"),
    )
    .await;
    eprintln!(
        "{total} sagas: {done_at_kill} done at the kill; A held {}, B held {} ({} taken from it while stopped); {resumed} sagas resumed under a newer epoch; {again} effects called again with their key (applied once); {:?} in all",
        held_by_a.len(),
        held_by_b.len(),
        taken_from_b.len(),
        started.elapsed()
    );
    drop((b, c));
    support::drop_saga_tables(&pg, &prefix).await;
    pool.drop_table(&fx.table).await;
}

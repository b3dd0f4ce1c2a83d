//! A real executor process killed with SIGKILL at every step boundary
//! (feature `crash-hooks`): before and after each action, each log write
//! and each compensation, for the four-step trip (payment the pivot), on
//! its completing path, its compensating path, and with the hotel's
//! unknown outcome ruled "compensate". One child process runs one executor
//! per boundary, each on tables of its own with one saga; executor `i`
//! stops at its `i`-th boundary and blocks there; once all have, the
//! parent kills the child, starts executors of its own on the same
//! database, and checks that every saga ends completed or compensated,
//! its state matches what the steps did, and the services (a table of
//! effects keyed by idempotency key, written by the child) applied each
//! step's effect and each compensation's at most once.
//!
//! SQLite runs always; PostgreSQL needs BALLAST_PG_URL.
#![cfg(feature = "crash-hooks")]

mod proc;
mod support;

use ballast_saga::crash::Boundary;
use ballast_saga::{Executor, SagaId};
use parking_lot::Mutex;
use proc::effects::Effects;
use proc::trip::{Delay, Scenario, trip};
use proc::{Db, Pool, Role, Spec};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The child's entry: a no-op unless the parent started this binary as a
/// child executor.
#[test]
fn child_executor() {
    proc::child_entry();
}

const LIMIT: Duration = Duration::from_secs(60);
/// The child's leases: the parent's executors take its sagas over this
/// long after the kill.
const CHILD_LEASE: Duration = Duration::from_millis(1200);

/// The boundaries a clean run of `scenario` passes, in order (run in this
/// process on the tables `<prefix>_clean`).
async fn boundaries(pool: &Pool, fx: &Effects, scenario: Scenario, prefix: &str) -> Vec<Boundary> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    let table = format!("{prefix}_clean");
    let h = Executor::builder(pool.database())
        .config(proc::config(&table, "clean", CHILD_LEASE))
        .register(trip(fx, scenario, Delay::default()))
        .crash_hook(move |at| {
            rec.lock().push(at.clone());
            false
        })
        .start()
        .await
        .expect("the executor starts");
    let id = h
        .start_saga("trip", 1, &support::Trip::default())
        .await
        .unwrap();
    let info = support::ended(&h, id, LIMIT).await;
    scenario.check(&info, &fx.of(&id.to_string()).await, "the clean run");
    h.shutdown().await.unwrap();
    pool.drop_saga_tables(&table).await;
    seen.lock().clone()
}

async fn sigkill_at_every_boundary(db: Db, scenario: Scenario) {
    let started = Instant::now();
    let pool = db.pool(8).await;
    let prefix = proc::prefix("pk");
    let spec = |executors| Spec {
        db: db.clone(),
        prefix: prefix.clone(),
        lease_ms: CHILD_LEASE.as_millis() as u64,
        role: Role::Crash {
            scenario,
            executors,
        },
    };
    let fx = Effects::create(&pool, &spec(0).effects_table()).await;
    let all = boundaries(&pool, &fx, scenario, &prefix).await;
    assert!(all.len() >= 20, "{} boundaries", all.len());

    // One executor per boundary, in one child; each stops at its own.
    let mut child = spec(all.len()).spawn();
    let mut ids = vec![None; all.len()];
    let mut reached = vec![None; all.len()];
    let until = Instant::now() + LIMIT;
    while reached.iter().any(Option::is_none) || ids.iter().any(Option::is_none) {
        let line = child.next_line(until).unwrap_or_else(|| {
            let missing: Vec<usize> = (0..all.len()).filter(|&i| reached[i].is_none()).collect();
            panic!("{scenario:?}: boundaries {missing:?} not reached within {LIMIT:?}")
        });
        let mut words = line.splitn(3, ' ');
        let (what, i, rest) = (words.next(), words.next(), words.next());
        let i: usize = i.and_then(|i| i.parse().ok()).expect("an executor number");
        let rest = rest.expect("the rest of the line").to_string();
        match what {
            Some("saga") => ids[i] = Some(SagaId(rest.parse().expect("a saga id"))),
            Some("reached") => reached[i] = Some(rest),
            _ => panic!("unexpected line from the child: {line}"),
        }
    }
    for (i, at) in all.iter().enumerate() {
        assert_eq!(
            reached[i].as_deref(),
            Some(format!("{at:?}").as_str()),
            "executor {i} stopped at its boundary"
        );
    }
    assert_eq!(child.kill(), Some(9), "the child died of SIGKILL");
    let killed = Instant::now();

    // Executors of this process (a restart) take each saga over once the
    // dead child's lease runs out, and finish it.
    let resumed = (0..all.len()).map(|i| {
        let (pool, fx) = (pool.clone(), fx.clone());
        let table = format!("{prefix}_{i}");
        async move {
            Executor::builder(pool.database())
                .config(proc::config(
                    &table,
                    &format!("restart-{i}"),
                    Duration::from_millis(600),
                ))
                .register(trip(&fx, scenario, Delay::default()))
                .start()
                .await
                .expect("the restarted executor starts")
        }
    });
    let handles = futures::future::join_all(resumed).await;
    for (i, h) in handles.iter().enumerate() {
        let id = ids[i].expect("the saga's id");
        let at = format!("{scenario:?}, killed at boundary {i}: {:?}", all[i]);
        let info = support::ended(h, id, LIMIT).await;
        scenario.check(&info, &fx.of(&id.to_string()).await, &at);
        let log = h.history(id).await.unwrap();
        assert!(
            log.windows(2).all(|w| w[0].epoch <= w[1].epoch),
            "{at}: no entry under an older epoch after a newer one"
        );
    }
    let effects = fx.all().await;
    let repeated = effects.iter().filter(|e| e.calls > 1).count();
    eprintln!(
        "{scenario:?}: {} kills; all resumed {:?} after the kill; {} effects, {repeated} of them called again with their key; {:?} in all",
        all.len(),
        killed.elapsed(),
        effects.len(),
        started.elapsed()
    );
    for h in handles {
        h.shutdown().await.unwrap();
    }
    for i in 0..all.len() {
        pool.drop_saga_tables(&format!("{prefix}_{i}")).await;
    }
    pool.drop_table(&fx.table).await;
}

fn sqlite() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Sqlite(dir.path().join("sagas.db"));
    (dir, db)
}

fn postgres(test: &str) -> Option<Db> {
    support::service("BALLAST_PG_URL", test).map(Db::Postgres)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_completing_saga_sigkilled_at_every_boundary_completes_each_effect_once() {
    let (_dir, db) = sqlite();
    sigkill_at_every_boundary(db, Scenario::Completes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_compensating_saga_sigkilled_at_every_boundary_compensates_each_effect_once() {
    let (_dir, db) = sqlite();
    sigkill_at_every_boundary(db, Scenario::Compensates).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_an_unknown_outcome_ruled_compensate_sigkilled_at_every_boundary_compensates_once()
 {
    let (_dir, db) = sqlite();
    sigkill_at_every_boundary(db, Scenario::UnknownCompensates).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_completing_saga_sigkilled_at_every_boundary_completes_each_effect_once() {
    let Some(db) = postgres("postgres sigkill, completing") else {
        return;
    };
    sigkill_at_every_boundary(db, Scenario::Completes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_compensating_saga_sigkilled_at_every_boundary_compensates_each_effect_once()
{
    let Some(db) = postgres("postgres sigkill, compensating") else {
        return;
    };
    sigkill_at_every_boundary(db, Scenario::Compensates).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_an_unknown_outcome_ruled_compensate_sigkilled_at_every_boundary_compensates_once()
 {
    let Some(db) = postgres("postgres sigkill, unknown outcome") else {
        return;
    };
    sigkill_at_every_boundary(db, Scenario::UnknownCompensates).await;
}

//! An executor that lost its saga while it was stopped (as under SIGSTOP:
//! its lease ran out, another executor took the saga over and finished
//! it) writes nothing when it wakes up; its late action reaches the
//! service with the step's idempotency key and changes nothing there.

mod support;

use ballast_saga::{Executor, ExecutorHandle, OnUnknown, Status};
use std::sync::Arc;
use std::time::Duration;
use support::*;

const LIMIT: Duration = Duration::from_secs(10);

/// Leases that the test expires by hand, renewed (and free sagas
/// claimed) only once an hour: A's ticker must not take its own expired
/// saga back before B does (with a 10 s tick it did on a loaded machine,
/// aborting the late action this test waits for).
fn slow_config(table: &str) -> ballast_saga::Config {
    ballast_saga::Config::builder()
        .table(table)
        .lease(Duration::from_secs(4 * 3600))
        .tick(Duration::from_secs(3600))
        .build()
        .unwrap()
}

async fn stale_executor_writes_nothing(
    db_a: ballast_saga::Database,
    db_b: ballast_saga::Database,
    table: &str,
    expire: impl AsyncFnOnce(),
) {
    let svc = Service::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    svc.on("hotel", [Answer::Gate(gate.clone())]);
    // A's hotel attempt must outlive B's whole run (a 5 s attempt timed
    // out on a loaded CI machine before the gate opened, and the late
    // action this test is about never came).
    let a: ExecutorHandle = Executor::builder(db_a)
        .config(slow_config(table))
        .register(trip_timed(
            &svc,
            1,
            OnUnknown::RunAgain,
            Duration::from_secs(120),
        ))
        .start()
        .await
        .unwrap();
    let id = a.start_saga("trip", 1, &Trip::default()).await.unwrap();
    let key = format!("{id}/hotel");
    tokio::time::timeout(LIMIT, async {
        while svc.calls(&key) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    // A is "stopped" inside the hotel's action, past its lease.
    expire().await;
    let b = Executor::builder(db_b)
        .config(config(table))
        .register(trip(&svc, 1))
        .start()
        .await
        .unwrap();
    assert_eq!(ended(&b, id, LIMIT).await.status, Status::Completed);
    let before = b.history(id).await.unwrap();
    // A wakes up: its action completes late, and its append is fenced.
    gate.add_permits(1);
    tokio::time::timeout(LIMIT, async {
        while svc.calls(&key) < 2 || gate.available_permits() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = b.history(id).await.unwrap();
    assert_eq!(after, before, "the stale executor wrote nothing");
    let first_b = after.iter().position(|e| e.epoch == 2).unwrap();
    assert!(after[first_b..].iter().all(|e| e.epoch == 2));
    assert_eq!(svc.applied(&key), 1, "the late action changed nothing");
    assert_eq!(
        svc.effects_of(&id.to_string()),
        ["confirm", "flight", "hotel", "payment"]
    );
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_stale_executor_waking_after_a_takeover_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pool = sqlite(&dir).await;
    let expire_pool = pool.clone();
    stale_executor_writes_nothing(
        pool.clone().into(),
        sqlite(&dir).await.into(),
        "ballast_saga",
        async move || {
            sqlx::query("UPDATE ballast_saga_sagas SET lease_expires_at = 0")
                .execute(&expire_pool)
                .await
                .unwrap();
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_stale_executor_waking_after_a_takeover_writes_nothing() {
    let Some(url) = service("BALLAST_PG_URL", "postgres stale executor") else {
        return;
    };
    let pool = postgres(&url, 4).await;
    let table = unique_table("saga_stale");
    let sql = format!("UPDATE {table}_sagas SET lease_expires_at = '-infinity'");
    let expire_pool = pool.clone();
    stale_executor_writes_nothing(
        pool.clone().into(),
        postgres(&url, 4).await.into(),
        &table,
        async move || {
            sqlx::query(&sql).execute(&expire_pool).await.unwrap();
        },
    )
    .await;
    drop_saga_tables(&pool, &table).await;
}

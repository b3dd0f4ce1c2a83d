//! Group commit of log writes, end to end on SQLite and PostgreSQL
//! (`BALLAST_PG_URL`): many sagas in flight at once, their entries
//! committed together, all complete with each effect applied once. (The
//! store tests check a group with one fenced saga in it.) Throughput is
//! measured by the bench (`cargo bench -p ballast-saga --bench throughput`).

mod support;

use ballast_saga::{Database, Definition, Executor, Status, Step, StepContext};
use std::time::{Duration, Instant};
use support::*;

/// Three steps that only count, so the log is all the work.
fn three(svc: &Service) -> Definition<u32> {
    let step = |name: &'static str| {
        let svc = svc.clone();
        Step::new(name, move |c: StepContext<u32>| {
            let svc = svc.clone();
            async move {
                svc.call(name, c.idempotency_key()).await?;
                Ok(c.into_state() + 1)
            }
        })
        .compensate(|c: StepContext<u32>| async move { Ok(c.into_state()) })
    };
    Definition::builder("three", 1)
        .step(step("a"))
        .step(step("b"))
        .step(step("c"))
        .build()
        .unwrap()
}

/// Runs `n` sagas at once; returns how long they took, after checking
/// each completed with its three effects once.
async fn run(db: impl Into<Database>, table: &str, n: usize, group: u32) -> Duration {
    let svc = Service::default();
    let config = ballast_saga::Config::builder()
        .table(table)
        .lease(Duration::from_secs(30))
        .tick(Duration::from_secs(5))
        .group_commit(group)
        .build()
        .unwrap();
    let h = Executor::builder(db)
        .config(config)
        .register(three(&svc))
        .start()
        .await
        .unwrap();
    let t = Instant::now();
    let starts = (0..n).map(|_| h.start_saga("three", 1, &0u32));
    let ids: Vec<_> = futures::future::join_all(starts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    for id in &ids {
        let info = ended(&h, *id, Duration::from_secs(120)).await;
        assert_eq!(info.status, Status::Completed);
        assert_eq!(info.state, serde_json::json!(3));
    }
    let took = t.elapsed();
    for id in &ids {
        assert_eq!(svc.effects_of(&id.to_string()), ["a", "b", "c"]);
    }
    h.shutdown().await.unwrap();
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_two_hundred_sagas_at_once_complete_through_grouped_commits() {
    let dir = tempfile::tempdir().unwrap();
    run(sqlite(&dir).await, "ballast_saga", 200, 256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_two_hundred_sagas_at_once_complete_through_grouped_commits() {
    let Some(url) = service("BALLAST_PG_URL", "postgres group commit") else {
        return;
    };
    let pool = postgres(&url, 16).await;
    let table = unique_table("saga_gc");
    run(pool.clone(), &table, 200, 256).await;
    drop_saga_tables(&pool, &table).await;
}

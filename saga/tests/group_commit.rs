//! Group commit of log writes, end to end on SQLite and PostgreSQL
//! (`BALLAST_PG_URL`): many sagas in flight at once, their entries
//! committed together, all complete with each effect applied once. (The
//! store tests check a group with one fenced saga in it.) An ignored test
//! measures sagas per second with and without grouping.

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

/// `cargo test -p ballast-saga --release --test group_commit -- --ignored
/// --nocapture`: three-step sagas per second, 1,000 in flight, each
/// entry committed alone against entries grouped, on both databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run by hand"]
async fn measure_sagas_per_second_with_and_without_group_commit() {
    let n = 1000;
    for round in 0..2 {
        for group in [1u32, 256] {
            let dir = tempfile::tempdir().unwrap();
            let took = run(sqlite(&dir).await, "ballast_saga", n, group).await;
            let rate = n as f64 / took.as_secs_f64();
            println!("round {round} sqlite   group_commit={group:>3}: {rate:>7.0} sagas/s");
            if let Ok(url) = std::env::var("BALLAST_PG_URL") {
                let pool = postgres(&url, 16).await;
                let table = unique_table("saga_gcm");
                let took = run(pool.clone(), &table, n, group).await;
                let rate = n as f64 / took.as_secs_f64();
                println!("round {round} postgres group_commit={group:>3}: {rate:>7.0} sagas/s");
                drop_saga_tables(&pool, &table).await;
            }
        }
    }
}

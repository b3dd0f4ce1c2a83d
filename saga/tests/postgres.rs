//! The executor on PostgreSQL (`BALLAST_PG_URL`): the saga paths, and two
//! executors sharing the work, one of them dying midway.

mod support;

use ballast_saga::{Executor, ExecutorHandle, SagaId, Status};
use std::time::Duration;
use support::*;

const LIMIT: Duration = Duration::from_secs(20);

async fn executor(pool: &sqlx::PgPool, table: &str, svc: &Service) -> ExecutorHandle {
    Executor::builder(pool.clone())
        .config(config(table))
        .register(trip(svc, 1))
        .start()
        .await
        .expect("the executor starts")
}

#[tokio::test]
async fn on_postgres_a_saga_completes_and_a_refused_pivot_compensates_in_reverse() {
    let Some(url) = service("BALLAST_PG_URL", "postgres saga paths") else {
        return;
    };
    let pool = postgres(&url, 4).await;
    let table = unique_table("saga_paths");
    let svc = Service::default();
    let h = executor(&pool, &table, &svc).await;
    let done = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    assert_eq!(ended(&h, done, LIMIT).await.status, Status::Completed);
    assert_eq!(
        svc.effects_of(&done.to_string()),
        ["confirm", "flight", "hotel", "payment"]
    );
    svc.on("payment", [Answer::Refuse]);
    let undone = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    let info = ended(&h, undone, LIMIT).await;
    assert_eq!(info.status, Status::Compensated);
    let log = kinds(&h, undone).await;
    let order: Vec<&String> = log
        .iter()
        .filter(|k| k.starts_with("compensated:"))
        .collect();
    assert_eq!(order, ["compensated:hotel", "compensated:flight"]);
    h.shutdown().await.unwrap();
    drop_saga_tables(&pool, &table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executors_one_aborted_the_other_takes_over_after_the_lease_and_finishes_all() {
    let Some(url) = service("BALLAST_PG_URL", "postgres takeover") else {
        return;
    };
    let pool = postgres(&url, 8).await;
    let table = unique_table("saga_takeover");
    let svc = Service::default();
    // Slow steps, so that A dies with sagas at every stage.
    for s in STEPS {
        svc.always(s, Answer::Slow(Duration::from_millis(20)));
    }
    let a = executor(&pool, &table, &svc).await;
    let b = executor(&pool, &table, &svc).await;
    let mut ids: Vec<SagaId> = Vec::new();
    for _ in 0..30 {
        ids.push(a.start_saga("trip", 1, &Trip::default()).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(60)).await;
    a.abort();
    let mut taken_over = 0;
    for &id in &ids {
        let info = ended(&b, id, LIMIT).await;
        assert_eq!(info.status, Status::Completed, "{id}");
        assert_eq!(
            svc.effects_of(&id.to_string()),
            ["confirm", "flight", "hotel", "payment"],
            "{id}: each step's effect once"
        );
        let log = b.history(id).await.unwrap();
        assert!(
            log.windows(2).all(|w| w[0].epoch <= w[1].epoch),
            "{id}: an entry under a stale epoch"
        );
        if log.last().unwrap().epoch > 1 {
            taken_over += 1;
        }
    }
    assert!(taken_over > 0, "B finished sagas A had started");
    b.shutdown().await.unwrap();
    drop_saga_tables(&pool, &table).await;
}

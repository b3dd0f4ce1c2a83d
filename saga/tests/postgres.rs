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

/// The database going away: every connection of the executor's pool is
/// terminated (`pg_terminate_backend` on its application_name) again and
/// again for a second while 20 sagas run. The executor backs off and
/// waits; once the database answers again every saga completes, each
/// effect applied once, each step logged as succeeded once (no entry
/// written twice by a retried append), no entry under a stale epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_an_executor_whose_connections_keep_dying_waits_and_loses_nothing() {
    let Some(url) = service("BALLAST_PG_URL", "postgres database away") else {
        return;
    };
    let app: String = format!("saga_away_{}", uuid::Uuid::now_v7().simple())
        .chars()
        .take(40)
        .collect();
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.application_name(&app))
        .await
        .unwrap();
    let admin = postgres(&url, 2).await;
    let table = unique_table("saga_away");
    let svc = Service::default();
    for s in STEPS {
        svc.always(s, Answer::Slow(Duration::from_millis(100)));
    }
    let h = executor(&pool, &table, &svc).await;
    let mut ids: Vec<SagaId> = Vec::new();
    for _ in 0..20 {
        ids.push(h.start_saga("trip", 1, &Trip::default()).await.unwrap());
    }
    let until = std::time::Instant::now() + Duration::from_secs(1);
    let mut killed = 0i64;
    while std::time::Instant::now() < until {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1) t",
        )
        .bind(&app)
        .fetch_one(&admin)
        .await
        .unwrap();
        killed += n;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(killed > 0, "the executor's connections were terminated");
    for &id in &ids {
        let info = ended(&h, id, LIMIT).await;
        assert_eq!(info.status, Status::Completed, "{id}");
        let state: Trip = serde_json::from_value(info.state).unwrap();
        assert_eq!(state.done, STEPS, "{id}");
        assert_eq!(
            svc.effects_of(&id.to_string()),
            ["confirm", "flight", "hotel", "payment"],
            "{id}: each step's effect once"
        );
        let log = kinds(&h, id).await;
        for s in STEPS {
            let ok = format!("step_succeeded:{s}");
            assert_eq!(log.iter().filter(|k| **k == ok).count(), 1, "{id}: {log:?}");
        }
        let log = h.history(id).await.unwrap();
        assert!(log.windows(2).all(|w| w[0].epoch <= w[1].epoch), "{id}");
    }
    eprintln!("terminated {killed} connections");
    h.shutdown().await.unwrap();
    drop_saga_tables(&admin, &table).await;
}

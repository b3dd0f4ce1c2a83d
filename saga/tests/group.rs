//! Parallel groups on SQLite and PostgreSQL (`BALLAST_PG_URL`): the steps
//! of a group run at the same time and their states merge; a sibling that
//! fails for good cancels the ones in flight, which are settled by their
//! unknown-outcome rule and compensated with the earlier steps.

mod support;

use ballast_saga::{Database, Executor, ExecutorHandle, OnUnknown, SagaId, Status};
use std::sync::Arc;
use std::time::Duration;
use support::*;

const LIMIT: Duration = Duration::from_secs(20);

async fn executor(
    db: impl Into<Database>,
    table: &str,
    svc: &Service,
    hotel: OnUnknown,
) -> ExecutorHandle {
    Executor::builder(db)
        .config(config(table))
        .register(grouped_trip(svc, 1, hotel))
        .start()
        .await
        .expect("the executor starts")
}

fn state(info: &ballast_saga::SagaInfo) -> Trip {
    serde_json::from_value(info.state.clone()).unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Hotel and car each wait until the other has been called: the saga
/// completes only if they run at the same time. Both entries survive the
/// merge.
async fn group_steps_run_together_and_merge(h: &ExecutorHandle, svc: &Service) {
    let hotel_in = Arc::new(tokio::sync::Semaphore::new(0));
    let car_in = Arc::new(tokio::sync::Semaphore::new(0));
    // Each step's service call waits on the gate the other one opens.
    svc.on("hotel", [Answer::Gate(hotel_in.clone())]);
    svc.on("car", [Answer::Gate(car_in.clone())]);
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    // Open each gate only once both calls are in: proof they overlap.
    let key = |s: &str| format!("{id}/{s}");
    tokio::time::timeout(LIMIT, async {
        while svc.calls(&key("hotel")) == 0 || svc.calls(&key("car")) == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("hotel and car are called at the same time");
    hotel_in.add_permits(1);
    car_in.add_permits(1);
    let info = ended(h, id, LIMIT).await;
    assert_eq!(info.status, Status::Completed);
    let done = state(&info).done;
    assert_eq!(
        sorted(done.clone()),
        sorted(GROUPED_STEPS.map(String::from).to_vec())
    );
    assert_eq!(done[0], "flight");
    assert_eq!(&done[3..], ["payment", "confirm"]);
    assert_eq!(
        svc.effects_of(&id.to_string()),
        ["car", "confirm", "flight", "hotel", "payment"]
    );
}

/// The car refuses while the hotel's call hangs: the hotel is cancelled,
/// run again with its key (rule: run again) and, once done, compensated
/// with the flight.
async fn a_refusing_sibling_cancels_the_other_which_runs_again_then_is_undone(
    h: &ExecutorHandle,
    svc: &Service,
) -> SagaId {
    svc.on("hotel", [Answer::Slow(Duration::from_secs(3600))]);
    svc.on("car", [Answer::Refuse]);
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    let info = ended(h, id, LIMIT).await;
    assert_eq!(info.status, Status::Compensated);
    assert_eq!(
        svc.effects_of(&id.to_string()),
        ["flight", "flight/compensate", "hotel", "hotel/compensate"]
    );
    let log = kinds(h, id).await;
    let hotel_started = log.iter().filter(|k| *k == "step_started:hotel").count();
    assert_eq!(hotel_started, 2, "cancelled, then run again");
    let undone: Vec<&String> = log
        .iter()
        .filter(|k| k.starts_with("compensated:"))
        .collect();
    assert_eq!(undone, ["compensated:hotel", "compensated:flight"]);
    let done = state(&info).done;
    assert_eq!(done.last().map(String::as_str), Some("undo flight"));
    id
}

/// The same, with the hotel's rule "compensate": the cancelled hotel is
/// not called again, only compensated (its compensation copes with an
/// action that never applied).
async fn a_cancelled_sibling_ruled_compensate_is_only_compensated(
    h: &ExecutorHandle,
    svc: &Service,
) {
    svc.on("hotel", [Answer::Slow(Duration::from_secs(3600))]);
    svc.on("car", [Answer::Refuse]);
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    let info = ended(h, id, LIMIT).await;
    assert_eq!(info.status, Status::Compensated);
    let log = kinds(h, id).await;
    let hotel_started = log.iter().filter(|k| *k == "step_started:hotel").count();
    assert_eq!(hotel_started, 1, "not run again");
    assert_eq!(
        svc.effects_of(&id.to_string()),
        ["flight", "flight/compensate", "hotel/compensate"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_group_runs_together_and_a_failing_sibling_cancels_and_compensates() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    let h = executor(
        sqlite(&dir).await,
        "ballast_saga",
        &svc,
        OnUnknown::RunAgain,
    )
    .await;
    group_steps_run_together_and_merge(&h, &svc).await;
    a_refusing_sibling_cancels_the_other_which_runs_again_then_is_undone(&h, &svc).await;
    h.shutdown().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let h = executor(
        sqlite(&dir).await,
        "ballast_saga",
        &svc,
        OnUnknown::Compensate,
    )
    .await;
    a_cancelled_sibling_ruled_compensate_is_only_compensated(&h, &svc).await;
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_group_runs_together_and_a_failing_sibling_cancels_and_compensates() {
    let Some(url) = service("BALLAST_PG_URL", "postgres parallel groups") else {
        return;
    };
    let pool = postgres(&url, 4).await;
    let svc = Service::default();
    let table = unique_table("saga_group");
    let h = executor(pool.clone(), &table, &svc, OnUnknown::RunAgain).await;
    group_steps_run_together_and_merge(&h, &svc).await;
    a_refusing_sibling_cancels_the_other_which_runs_again_then_is_undone(&h, &svc).await;
    h.shutdown().await.unwrap();
    drop_saga_tables(&pool, &table).await;

    let table = unique_table("saga_group");
    let h = executor(pool.clone(), &table, &svc, OnUnknown::Compensate).await;
    a_cancelled_sibling_ruled_compensate_is_only_compensated(&h, &svc).await;
    h.shutdown().await.unwrap();
    drop_saga_tables(&pool, &table).await;
}

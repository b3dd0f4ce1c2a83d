//! Operators' decisions about stuck and paused sagas, on SQLite (no
//! server) and PostgreSQL (`BALLAST_PG_URL`): each one is written to the
//! saga's log with the operator's name, under a new epoch, and refused
//! with a typed error where it does not apply.

mod support;

use ballast_saga::{
    Database, Decision, DecisionError, Executor, ExecutorHandle, Kind, LogEntry, Status,
};
use std::sync::Arc;
use std::time::Duration;
use support::*;

const LIMIT: Duration = Duration::from_secs(20);

async fn executor(db: &Database, table: &str, svc: &Service, versions: &[u32]) -> ExecutorHandle {
    let mut b = Executor::builder(db.clone()).config(config(table));
    for &v in versions {
        b = b.register(trip(svc, v));
    }
    b.start().await.expect("the executor starts")
}

/// The one `operator_decision` entry of the log, checked to name the
/// operator and the decision and to come under a newer epoch than the
/// entries before it.
fn decision_entry(log: &[LogEntry], decision: Decision, operator: &str) -> LogEntry {
    let decisions: Vec<&LogEntry> = log
        .iter()
        .filter(|e| e.kind == Kind::OperatorDecision)
        .collect();
    assert_eq!(decisions.len(), 1, "one decision logged: {log:?}");
    let d = decisions[0].clone();
    assert_eq!(
        d.error.as_deref(),
        Some(format!("{} by {operator}", decision.as_str()).as_str())
    );
    let before = &log[(d.n - 2) as usize];
    assert!(d.epoch > before.epoch, "the decision bumped the epoch");
    assert!(
        log.windows(2).all(|w| w[0].epoch <= w[1].epoch),
        "no entry under a stale epoch"
    );
    d
}

/// A saga stuck compensating its flight (the hotel refused, the flight
/// service refuses cancellations).
async fn stuck_saga(h: &ExecutorHandle, svc: &Service) -> ballast_saga::SagaId {
    svc.on("hotel", [Answer::Refuse]);
    svc.always("flight/compensate", Answer::Transient);
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    assert_eq!(ended(h, id, LIMIT).await.status, Status::Stuck);
    id
}

async fn retried_stuck_compensation_finishes_compensated(db: Database, table: &str) {
    let svc = Service::default();
    let h = executor(&db, table, &svc, &[1]).await;
    let id = stuck_saga(&h, &svc).await;
    let op = h.operator();
    let stuck = op.list(Status::Stuck, 10).await.unwrap();
    assert_eq!(stuck.iter().map(|s| s.id).collect::<Vec<_>>(), [id]);
    svc.always.lock().remove("flight/compensate"); // the service works again
    op.retry_compensation(id, "alice").await.unwrap();
    let info = ended(&h, id, LIMIT).await;
    assert_eq!(info.status, Status::Compensated);
    assert_eq!(svc.calls(&format!("{id}/flight/compensate")), 4);
    assert_eq!(svc.applied(&format!("{id}/flight/compensate")), 1);
    let log = op.history(id).await.unwrap();
    decision_entry(&log, Decision::RetryCompensation, "alice");
    assert_eq!(log.last().unwrap().kind, Kind::SagaCompensated);
    assert!(op.list(Status::Stuck, 10).await.unwrap().is_empty());
    h.shutdown().await.unwrap();
}

async fn marked_compensated_by_hand_ends_compensated(db: Database, table: &str) {
    let svc = Service::default();
    let h = executor(&db, table, &svc, &[1]).await;
    let id = stuck_saga(&h, &svc).await;
    let op = h.operator();
    op.mark_compensated(id, "bob").await.unwrap();
    let info = op.saga(id).await.unwrap();
    assert_eq!(info.status, Status::Compensated);
    assert_eq!(info.reason.as_deref(), Some("mark_compensated by bob"));
    // Several ticks: no executor takes it up again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(svc.calls(&format!("{id}/flight/compensate")), 3);
    let log = op.history(id).await.unwrap();
    let d = decision_entry(&log, Decision::MarkCompensated, "bob");
    assert_eq!(log.last().unwrap().n, d.n, "nothing ran after the decision");
    h.shutdown().await.unwrap();
}

async fn paused_saga_resumes_once_registered(db: Database, table: &str) {
    let svc = Service::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    svc.on("flight", [Answer::Gate(gate)]);
    let a = executor(&db, table, &svc, &[1]).await;
    let id = a.start_saga("trip", 1, &Trip::default()).await.unwrap();
    wait_for_call(&svc, &format!("{id}/flight")).await;
    a.abort();
    // Only version 2 is registered: the saga pauses once the lease expires.
    let b = executor(&db, table, &svc, &[2]).await;
    assert_eq!(ended(&b, id, LIMIT).await.status, Status::Paused);
    b.shutdown().await.unwrap();
    // Version 1 is registered again; the saga waits for an operator.
    let c = executor(&db, table, &svc, &[1, 2]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(c.saga(id).await.unwrap().status, Status::Paused);
    c.operator().resume(id, "carol").await.unwrap();
    let info = ended(&c, id, LIMIT).await;
    assert_eq!(info.status, Status::Completed);
    assert_eq!(
        svc.effects_of(&id.to_string()),
        ["confirm", "flight", "hotel", "payment"],
        "each effect once"
    );
    let log = c.history(id).await.unwrap();
    decision_entry(&log, Decision::Resume, "carol");
    c.shutdown().await.unwrap();
}

async fn wrong_status_is_refused_and_writes_nothing(db: Database, table: &str) {
    let svc = Service::default();
    let h = executor(&db, table, &svc, &[1]).await;
    let done = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    assert_eq!(ended(&h, done, LIMIT).await.status, Status::Completed);
    let stuck = stuck_saga(&h, &svc).await;
    let op = h.operator();
    let before = (
        op.history(done).await.unwrap().len(),
        op.history(stuck).await.unwrap().len(),
    );
    for d in Decision::ALL {
        let e = op.decide(done, d, "dave").await.unwrap_err();
        assert!(
            matches!(e, DecisionError::WrongStatus { id, status: Status::Completed, decision } if id == done && decision == d),
            "{e}"
        );
    }
    let e = op.resume(stuck, "dave").await.unwrap_err();
    assert!(matches!(
        e,
        DecisionError::WrongStatus {
            status: Status::Stuck,
            decision: Decision::Resume,
            ..
        }
    ));
    let e = op.abort(stuck, "  ").await.unwrap_err();
    assert!(matches!(e, DecisionError::BlankOperator));
    let nobody = ballast_saga::SagaId(uuid::Uuid::now_v7());
    let e = op.abort(nobody, "dave").await.unwrap_err();
    assert!(matches!(e, DecisionError::NotFound(x) if x == nobody));
    let after = (
        op.history(done).await.unwrap().len(),
        op.history(stuck).await.unwrap().len(),
    );
    assert_eq!(before, after, "a refused decision writes nothing");
    // A second decision after the first is refused too: the first moved it.
    op.abort(stuck, "erin").await.unwrap();
    assert_eq!(op.saga(stuck).await.unwrap().status, Status::Aborted);
    let e = op.retry_compensation(stuck, "frank").await.unwrap_err();
    assert!(matches!(
        e,
        DecisionError::WrongStatus {
            status: Status::Aborted,
            ..
        }
    ));
    decision_entry(&op.history(stuck).await.unwrap(), Decision::Abort, "erin");
    h.shutdown().await.unwrap();
}

async fn wait_for_call(svc: &Service, key: &str) {
    tokio::time::timeout(LIMIT, async {
        while svc.calls(key) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the call is made");
}

/// Runs `scenario` on a new SQLite file.
macro_rules! on_sqlite {
    ($name:ident, $scenario:ident) => {
        #[tokio::test]
        async fn $name() {
            let dir = tempfile::tempdir().unwrap();
            $scenario(sqlite(&dir).await.into(), "ballast_saga").await;
        }
    };
}

/// Runs `scenario` on PostgreSQL in tables of its own, dropped after.
macro_rules! on_postgres {
    ($name:ident, $scenario:ident) => {
        #[tokio::test]
        async fn $name() {
            let Some(url) = service("BALLAST_PG_URL", stringify!($name)) else {
                return;
            };
            let pool = postgres(&url, 4).await;
            let table = unique_table("saga_op");
            $scenario(pool.clone().into(), &table).await;
            drop_saga_tables(&pool, &table).await;
        }
    };
}

on_sqlite!(
    a_stuck_compensation_retried_by_an_operator_finishes_compensated_once_the_service_works,
    retried_stuck_compensation_finishes_compensated
);
on_sqlite!(
    a_stuck_saga_marked_compensated_by_hand_ends_compensated_with_the_decision_in_its_history,
    marked_compensated_by_hand_ends_compensated
);
on_sqlite!(
    a_paused_saga_of_an_unregistered_version_resumes_once_registered_and_resumed_by_an_operator,
    paused_saga_resumes_once_registered
);
on_sqlite!(
    a_decision_on_a_saga_in_the_wrong_status_is_refused_and_writes_nothing,
    wrong_status_is_refused_and_writes_nothing
);
on_postgres!(
    on_postgres_a_stuck_compensation_retried_by_an_operator_finishes_compensated,
    retried_stuck_compensation_finishes_compensated
);
on_postgres!(
    on_postgres_a_stuck_saga_marked_compensated_by_hand_ends_compensated,
    marked_compensated_by_hand_ends_compensated
);
on_postgres!(
    on_postgres_a_paused_saga_resumes_once_registered_and_resumed_by_an_operator,
    paused_saga_resumes_once_registered
);
on_postgres!(
    on_postgres_a_decision_on_a_saga_in_the_wrong_status_is_refused,
    wrong_status_is_refused_and_writes_nothing
);

/// An operator's decision through the executor's own handle wakes it: a
/// resumed saga runs at once, though the executor's claim tick is an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_saga_is_claimed_at_once_by_the_deciding_executor_not_at_the_next_tick() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    let hour = Duration::from_secs(3600);
    let config = ballast_saga::Config::builder()
        .lease(hour * 4)
        .tick(hour)
        .build()
        .unwrap();
    let h = Executor::builder(sqlite(&dir).await)
        .config(config)
        .register(trip(&svc, 1))
        .start()
        .await
        .unwrap();
    // The confirmation refuses once, after the pivot: the saga pauses.
    svc.on("confirm", [Answer::Refuse]);
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    assert_eq!(ended(&h, id, LIMIT).await.status, Status::Paused);
    h.operator().resume(id, "alice").await.unwrap();
    let info = ended(&h, id, LIMIT).await;
    assert_eq!(info.status, Status::Completed);
    assert_eq!(svc.applied(&format!("{id}/confirm")), 1);
    h.shutdown().await.unwrap();
}

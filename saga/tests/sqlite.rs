//! The executor on SQLite (no server): the paths a saga takes, and the
//! typed refusals.

mod support;

use ballast_saga::{
    CancelError, Definition, Executor, ExecutorHandle, Kind, OnUnknown, StartError, Status, Step,
    StepContext,
};
use std::sync::Arc;
use std::time::Duration;
use support::*;

const LIMIT: Duration = Duration::from_secs(10);

async fn executor(dir: &tempfile::TempDir, svc: &Service) -> ExecutorHandle {
    Executor::builder(sqlite(dir).await)
        .config(config("ballast_saga"))
        .register(trip(svc, 1))
        .start()
        .await
        .expect("the executor starts")
}

#[tokio::test]
async fn a_four_step_saga_with_a_pivot_completes_each_step_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    let info = ended(&h, id, LIMIT).await;
    assert_eq!(info.status, Status::Completed);
    let state: Trip = serde_json::from_value(info.state).unwrap();
    assert_eq!(state.done, STEPS);
    for s in STEPS {
        assert_eq!(svc.applied(&format!("{id}/{s}")), 1, "{s}");
        assert_eq!(svc.calls(&format!("{id}/{s}")), 1, "{s}");
    }
    assert_eq!(svc.effects_of(&id.to_string()).len(), 4);
    let mut want = vec!["started".to_string()];
    for s in STEPS {
        want.push(format!("step_started:{s}"));
        want.push(format!("step_succeeded:{s}"));
    }
    want.push("completed".into());
    assert_eq!(kinds(&h, id).await, want);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failure_at_the_pivot_compensates_completed_steps_in_reverse_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    svc.on("payment", [Answer::Refuse]);
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    let info = ended(&h, id, LIMIT).await;
    assert_eq!(info.status, Status::Compensated);
    let state: Trip = serde_json::from_value(info.state).unwrap();
    assert_eq!(state.done, ["flight", "hotel", "undo hotel", "undo flight"]);
    assert_eq!(svc.applied(&format!("{id}/hotel/compensate")), 1);
    assert_eq!(svc.applied(&format!("{id}/flight/compensate")), 1);
    assert_eq!(svc.calls(&format!("{id}/hotel/compensate")), 1);
    assert_eq!(svc.calls(&format!("{id}/flight/compensate")), 1);
    assert_eq!(svc.applied(&format!("{id}/payment")), 0);
    assert_eq!(svc.applied(&format!("{id}/confirm")), 0);
    let log = kinds(&h, id).await;
    let undone: Vec<&String> = log
        .iter()
        .filter(|k| k.starts_with("compensated:"))
        .collect();
    assert_eq!(undone, ["compensated:hotel", "compensated:flight"]);
    assert_eq!(log.last().unwrap(), "saga_compensated");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failure_before_the_pivot_compensates_only_the_steps_done() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    svc.on("hotel", [Answer::Refuse]);
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    let info = ended(&h, id, LIMIT).await;
    assert_eq!(info.status, Status::Compensated);
    assert_eq!(
        svc.effects_of(&id.to_string()),
        ["flight", "flight/compensate"]
    );
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn transient_failures_before_the_pivot_are_retried_within_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    svc.on("hotel", [Answer::Transient, Answer::Transient]);
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    assert_eq!(ended(&h, id, LIMIT).await.status, Status::Completed);
    assert_eq!(svc.calls(&format!("{id}/hotel")), 3);
    assert_eq!(svc.applied(&format!("{id}/hotel")), 1);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn transient_failures_past_the_policy_compensate() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    svc.always("hotel", Answer::Transient);
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    let info = ended(&h, id, LIMIT).await;
    assert_eq!(info.status, Status::Compensated);
    assert_eq!(svc.calls(&format!("{id}/hotel")), 3);
    assert_eq!(svc.applied(&format!("{id}/flight/compensate")), 1);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn after_the_pivot_a_flaky_step_is_retried_until_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    // Twice its policy's three attempts, and a refusal: all retried.
    svc.on("confirm", std::iter::repeat_n(Answer::Transient, 6));
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    let info = ended(&h, id, LIMIT).await;
    assert_eq!(info.status, Status::Completed);
    assert_eq!(svc.calls(&format!("{id}/confirm")), 7);
    assert_eq!(svc.applied(&format!("{id}/confirm")), 1);
    let log = kinds(&h, id).await;
    assert_eq!(
        log.iter().filter(|k| *k == "step_failed:confirm").count(),
        6
    );
    assert!(!log.iter().any(|k| k.starts_with("compensat")));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_refusal_after_the_pivot_pauses_the_saga_for_an_operator() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    svc.on("confirm", [Answer::Refuse]);
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    let info = ended(&h, id, LIMIT).await;
    assert_eq!(info.status, Status::Paused);
    assert!(info.reason.unwrap().contains("confirm"));
    assert_eq!(svc.applied(&format!("{id}/hotel/compensate")), 0);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn cancel_before_the_pivot_compensates_and_the_pivot_never_runs() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    svc.on("hotel", [Answer::Gate(gate.clone())]);
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    wait_for_call(&svc, &format!("{id}/hotel")).await;
    h.cancel(id).await.unwrap();
    gate.add_permits(1);
    let info = ended(&h, id, LIMIT).await;
    assert_eq!(info.status, Status::Compensated);
    assert_eq!(
        svc.effects_of(&id.to_string()),
        ["flight", "flight/compensate", "hotel", "hotel/compensate"]
    );
    assert_eq!(svc.calls(&format!("{id}/payment")), 0);
    assert!(matches!(
        h.cancel(id).await,
        Err(CancelError::NotRunning(_, Status::Compensated))
    ));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn cancel_after_the_pivot_is_refused_and_the_saga_completes() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    svc.on("confirm", [Answer::Gate(gate.clone())]);
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    wait_for_call(&svc, &format!("{id}/confirm")).await;
    assert!(matches!(h.cancel(id).await, Err(CancelError::PastPivot(x)) if x == id));
    gate.add_permits(1);
    assert_eq!(ended(&h, id, LIMIT).await.status, Status::Completed);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_saga_deadline_compensates_before_the_pivot_including_the_timed_out_step() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    svc.on("hotel", [Answer::Slow(Duration::from_secs(3))]);
    let h = executor(&dir, &svc).await;
    let id = h
        .start_saga_within("trip", 1, &Trip::default(), Duration::from_millis(300))
        .await
        .unwrap();
    let info = ended(&h, id, LIMIT).await;
    assert_eq!(info.status, Status::Compensated);
    // The hotel's attempt was cut off by the deadline: outcome unknown,
    // so its compensation runs too (with its own key).
    assert_eq!(svc.applied(&format!("{id}/hotel/compensate")), 1);
    assert_eq!(svc.applied(&format!("{id}/flight/compensate")), 1);
    assert_eq!(svc.calls(&format!("{id}/payment")), 0);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_timed_out_attempt_runs_again_with_the_same_idempotency_key() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    let keys = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let seen = keys.clone();
    let def = Definition::<Trip>::builder("slow", 1)
        .step(
            Step::new("only", move |c: StepContext<Trip>| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .push((c.idempotency_key().to_string(), c.attempt()));
                    if c.attempt() == 1 {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    Ok(c.into_state())
                }
            })
            .compensate(|c: StepContext<Trip>| async move { Ok(c.into_state()) })
            .timeout(Duration::from_millis(100))
            .retry(quick_retry(3)),
        )
        .build()
        .unwrap();
    let h = Executor::builder(sqlite(&dir).await)
        .config(config("ballast_saga"))
        .register(def)
        .register(trip(&svc, 1))
        .start()
        .await
        .unwrap();
    let id = h.start_saga("slow", 1, &Trip::default()).await.unwrap();
    assert_eq!(ended(&h, id, LIMIT).await.status, Status::Completed);
    let key = format!("{id}/only");
    assert_eq!(*keys.lock(), [(key.clone(), 1), (key, 2)]);
    let log = kinds(&h, id).await;
    assert!(log.contains(&"step_failed:only".to_string()));
    let failed = h
        .history(id)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == Kind::StepFailed)
        .unwrap();
    assert!(failed.error.unwrap().starts_with("unknown: timed out"));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_step_reporting_an_unknown_outcome_runs_again_with_its_key_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    svc.on("hotel", [Answer::Unknown]);
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    assert_eq!(ended(&h, id, LIMIT).await.status, Status::Completed);
    assert_eq!(svc.calls(&format!("{id}/hotel")), 2);
    assert_eq!(svc.applied(&format!("{id}/hotel")), 1);
    let failed = h
        .history(id)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == Kind::StepFailed)
        .unwrap();
    assert!(
        failed
            .error
            .unwrap()
            .starts_with("unknown: hotel: no answer")
    );
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unknown_outcome_then_plain_failures_compensates_the_step_that_may_have_applied() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    // The first attempt applied and lost its answer; the next two say the
    // service is unavailable, which says nothing about the first.
    svc.on(
        "hotel",
        [Answer::Unknown, Answer::Transient, Answer::Transient],
    );
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    assert_eq!(ended(&h, id, LIMIT).await.status, Status::Compensated);
    assert_eq!(svc.applied(&format!("{id}/hotel")), 1);
    assert_eq!(svc.applied(&format!("{id}/hotel/compensate")), 1);
    assert_eq!(svc.applied(&format!("{id}/flight/compensate")), 1);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn plain_failures_alone_do_not_compensate_the_step_that_failed() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    svc.always("hotel", Answer::Transient);
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    assert_eq!(ended(&h, id, LIMIT).await.status, Status::Compensated);
    assert_eq!(svc.calls(&format!("{id}/hotel")), 3);
    assert_eq!(svc.calls(&format!("{id}/hotel/compensate")), 0);
    assert_eq!(svc.applied(&format!("{id}/flight/compensate")), 1);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unknown_outcome_ruled_compensate_compensates_at_once_without_another_try() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    svc.on("hotel", [Answer::Unknown]);
    let h = Executor::builder(sqlite(&dir).await)
        .config(config("ballast_saga"))
        .register(trip_with(&svc, 1, OnUnknown::Compensate))
        .start()
        .await
        .unwrap();
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    assert_eq!(ended(&h, id, LIMIT).await.status, Status::Compensated);
    assert_eq!(svc.calls(&format!("{id}/hotel")), 1);
    assert_eq!(svc.applied(&format!("{id}/hotel/compensate")), 1);
    assert_eq!(svc.applied(&format!("{id}/flight/compensate")), 1);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_compensation_that_keeps_failing_marks_the_saga_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    svc.on("hotel", [Answer::Refuse]);
    svc.always("flight/compensate", Answer::Transient);
    let h = executor(&dir, &svc).await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    let info = ended(&h, id, LIMIT).await;
    assert_eq!(info.status, Status::Stuck);
    assert!(info.reason.unwrap().contains("flight"));
    assert_eq!(svc.calls(&format!("{id}/flight/compensate")), 3);
    let log = kinds(&h, id).await;
    assert_eq!(log.last().unwrap(), "stuck");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn starting_an_unknown_version_or_the_wrong_state_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    let h = executor(&dir, &svc).await;
    let e = h.start_saga("trip", 2, &Trip::default()).await.unwrap_err();
    assert!(matches!(e, StartError::UnknownDefinition { ref name, version: 2 } if name == "trip"));
    let e = h.start_saga("nope", 1, &Trip::default()).await.unwrap_err();
    assert!(matches!(e, StartError::UnknownDefinition { .. }));
    let e = h.start_saga("trip", 1, &42u32).await.unwrap_err();
    assert!(matches!(e, StartError::WrongStateType { .. }));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_state_that_fails_to_serialise_is_a_typed_error_not_a_panic() {
    use std::collections::HashMap;
    type Odd = HashMap<(u8, u8), u8>; // JSON object keys must be strings
    let dir = tempfile::tempdir().unwrap();
    let def = Definition::<Odd>::builder("odd", 1)
        .step(
            Step::new("a", |c: StepContext<Odd>| async move { Ok(c.into_state()) })
                .compensate(|c: StepContext<Odd>| async move { Ok(c.into_state()) }),
        )
        .build()
        .unwrap();
    let h = Executor::builder(sqlite(&dir).await)
        .config(config("ballast_saga"))
        .register(def)
        .start()
        .await
        .unwrap();
    let state: Odd = [((1, 2), 3)].into_iter().collect();
    let e = h.start_saga("odd", 1, &state).await.unwrap_err();
    assert!(matches!(e, StartError::State(_)), "{e}");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn registering_one_version_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    let e = Executor::builder(sqlite(&dir).await)
        .register(trip(&svc, 1))
        .register(trip(&svc, 1))
        .start()
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        ballast_saga::Error::DuplicateDefinition { version: 1, .. }
    ));
}

#[tokio::test]
async fn a_saga_whose_version_is_not_registered_is_paused_with_that_reason() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    svc.on("flight", [Answer::Gate(gate)]);
    let a = executor(&dir, &svc).await;
    let id = a.start_saga("trip", 1, &Trip::default()).await.unwrap();
    wait_for_call(&svc, &format!("{id}/flight")).await;
    a.abort();
    // A newer executor knows only version 2; it takes the saga once the
    // lease expires and pauses it.
    let b = Executor::builder(sqlite(&dir).await)
        .config(config("ballast_saga"))
        .register(trip(&svc, 2))
        .start()
        .await
        .unwrap();
    let info = ended(&b, id, LIMIT).await;
    assert_eq!(info.status, Status::Paused);
    assert!(
        info.reason.unwrap().contains("version 1"),
        "paused, not failed"
    );
    b.shutdown().await.unwrap();
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

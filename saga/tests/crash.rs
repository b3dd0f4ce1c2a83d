//! Crash at every step boundary (feature `crash-hooks`): before and after
//! each action, each compensation and each log write (and, for a parallel
//! group, before it starts and when its siblings are cancelled), the
//! executor stops
//! as if its process died; a new executor resumes from the log, and every
//! saga ends completed or compensated with each effect applied once at the
//! services (counted by idempotency key).
#![cfg(feature = "crash-hooks")]

mod support;

use ballast_saga::crash::Boundary;
use ballast_saga::{Executor, ExecutorHandle, OnUnknown, SagaId, Status};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use support::*;

const LIMIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// Every step succeeds.
    Completes,
    /// The pivot refuses: hotel and flight are compensated.
    Compensates,
    /// The pivot refuses, and the hotel's unknown outcome is compensated
    /// rather than run again: a crash while the hotel's action runs
    /// compensates it whether or not it took effect.
    UnknownCompensates,
    /// flight, then hotel and car in a parallel group: every step succeeds.
    GroupCompletes,
    /// The car refuses while the hotel's first call is still running: the
    /// hotel is cancelled, run again with its key, then compensated with
    /// the flight.
    GroupCompensates,
}

impl Scenario {
    fn service(self) -> Service {
        let svc = Service::default();
        if let Scenario::Compensates | Scenario::UnknownCompensates = self {
            svc.always("payment", Answer::Refuse);
        }
        if let Scenario::GroupCompensates = self {
            svc.on("hotel", [Answer::Slow(Duration::from_millis(50))]);
            svc.always("car", Answer::Refuse);
        }
        svc
    }

    /// Checks the end state and the effects at the services.
    fn check(self, svc: &Service, id: SagaId, info: &ballast_saga::SagaInfo, at: &str) {
        let state: Trip = serde_json::from_value(info.state.clone()).unwrap();
        let effects = svc.effects_of(&id.to_string());
        match self {
            Scenario::Completes => {
                assert_eq!(info.status, Status::Completed, "{at}");
                assert_eq!(state.done, STEPS, "{at}");
                assert_eq!(effects, ["confirm", "flight", "hotel", "payment"], "{at}");
            }
            Scenario::Compensates => {
                assert_eq!(info.status, Status::Compensated, "{at}");
                assert_eq!(
                    state.done,
                    ["flight", "hotel", "undo hotel", "undo flight"],
                    "{at}"
                );
                assert_eq!(
                    effects,
                    ["flight", "flight/compensate", "hotel", "hotel/compensate"],
                    "{at}"
                );
            }
            Scenario::UnknownCompensates => {
                assert_eq!(info.status, Status::Compensated, "{at}");
                assert_eq!(state.done.last().map(String::as_str), Some("undo flight"));
                assert!(state.done.contains(&"undo hotel".to_string()), "{at}");
                let hotel = effects.contains(&"hotel".to_string());
                let mut want = vec!["flight", "flight/compensate"];
                if hotel {
                    want.push("hotel");
                }
                want.push("hotel/compensate");
                assert_eq!(effects, want, "{at}");
            }
            Scenario::GroupCompletes => {
                assert_eq!(info.status, Status::Completed, "{at}");
                let mut done = state.done.clone();
                done.sort();
                let mut want = GROUPED_STEPS.to_vec();
                want.sort();
                assert_eq!(done, want, "{at}: every step's entry, merged once");
                assert_eq!(
                    effects,
                    ["car", "confirm", "flight", "hotel", "payment"],
                    "{at}"
                );
            }
            Scenario::GroupCompensates => {
                assert_eq!(info.status, Status::Compensated, "{at}");
                assert_eq!(state.done.last().map(String::as_str), Some("undo flight"));
                assert!(state.done.contains(&"undo hotel".to_string()), "{at}");
                assert!(!state.done.contains(&"car".to_string()), "{at}");
                assert_eq!(
                    effects,
                    ["flight", "flight/compensate", "hotel", "hotel/compensate"],
                    "{at}"
                );
            }
        }
    }

    fn definition(self, svc: &Service) -> ballast_saga::Definition<Trip> {
        match self {
            Scenario::UnknownCompensates => trip_with(svc, 1, OnUnknown::Compensate),
            Scenario::GroupCompletes | Scenario::GroupCompensates => {
                grouped_trip(svc, 1, OnUnknown::RunAgain)
            }
            _ => trip(svc, 1),
        }
    }
}

async fn executor(
    scenario: Scenario,
    dir: &tempfile::TempDir,
    svc: &Service,
    hook: Option<ballast_saga::crash::CrashHook>,
) -> ExecutorHandle {
    let mut b = Executor::builder(sqlite(dir).await)
        .config(config("ballast_saga"))
        .register(scenario.definition(svc));
    if let Some(hook) = hook {
        b = b.crash_hook(move |at| hook(at));
    }
    b.start().await.expect("the executor starts")
}

/// The boundaries a clean run passes, in order.
async fn boundaries(scenario: Scenario) -> Vec<Boundary> {
    let dir = tempfile::tempdir().unwrap();
    let svc = scenario.service();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    let h = executor(
        scenario,
        &dir,
        &svc,
        Some(Arc::new(move |at: &Boundary| {
            rec.lock().push(at.clone());
            false
        })),
    )
    .await;
    let id = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    let info = ended(&h, id, LIMIT).await;
    scenario.check(&svc, id, &info, "clean run");
    h.shutdown().await.unwrap();
    seen.lock().clone()
}

async fn crash_at_every_boundary(scenario: Scenario) {
    let all = boundaries(scenario).await;
    assert!(all.len() >= 20, "{} boundaries", all.len());
    eprintln!("{scenario:?}: crashing at each of {} boundaries", all.len());
    for (k, at) in all.iter().enumerate() {
        let what = format!("{scenario:?}, crash {k} at {at:?}");
        let dir = tempfile::tempdir().unwrap();
        let svc = scenario.service();
        let count = Arc::new(AtomicUsize::new(0));
        let crashed = Arc::new(AtomicBool::new(false));
        let hook = {
            let (count, crashed) = (count.clone(), crashed.clone());
            Arc::new(move |_: &Boundary| {
                let crash = count.fetch_add(1, Ordering::SeqCst) == k;
                if crash {
                    crashed.store(true, Ordering::SeqCst);
                }
                crash
            })
        };
        let a = executor(scenario, &dir, &svc, Some(hook)).await;
        let id = a.start_saga("trip", 1, &Trip::default()).await.unwrap();
        tokio::time::timeout(LIMIT, async {
            while !crashed.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{what}: the crash point is reached"));
        drop(a);
        // A new executor (a restarted process) takes the saga over once
        // the dead one's lease expires, and finishes it.
        let b = executor(scenario, &dir, &svc, None).await;
        let info = ended(&b, id, LIMIT).await;
        scenario.check(&svc, id, &info, &what);
        let log = b.history(id).await.unwrap();
        assert!(
            log.windows(2).all(|w| w[0].epoch <= w[1].epoch),
            "{what}: no entry under an older epoch after a newer one"
        );
        b.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completing_saga_crashed_at_every_boundary_resumes_and_completes_each_effect_once() {
    crash_at_every_boundary(Scenario::Completes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compensating_saga_crashed_at_every_boundary_resumes_and_compensates_each_effect_once() {
    crash_at_every_boundary(Scenario::Compensates).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_outcome_ruled_compensate_crashed_at_every_boundary_still_compensates_once() {
    crash_at_every_boundary(Scenario::UnknownCompensates).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saga_with_a_parallel_group_crashed_at_every_boundary_completes_each_effect_once() {
    crash_at_every_boundary(Scenario::GroupCompletes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_sibling_refuses_crashed_at_every_boundary_compensates_each_effect_once() {
    crash_at_every_boundary(Scenario::GroupCompensates).await;
}

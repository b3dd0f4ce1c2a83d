//! A property test (feature `crash-hooks`, SQLite, in-process): random
//! sagas of three to five steps with a random pivot, random outcomes per
//! step (ok, transient then ok, transient until out of attempts, refused,
//! timed out with its outcome unknown) and per compensation (transient
//! then ok), a random rule for unknown outcomes, and a crash (every task
//! aborted) at a random boundary, after which a new executor resumes the
//! saga. For each case the saga ends completed or compensated as a model
//! of the plan says, its state records what the steps and compensations
//! did, and the services applied each effect at most once.
//!
//! Seeded: the seed is printed and named in every failure; replay with
//! `BALLAST_SAGA_SEED=<seed>` (and `BALLAST_SAGA_CASES=<n>` for more cases).
#![cfg(feature = "crash-hooks")]

mod support;

use ballast_saga::crash::Boundary;
use ballast_saga::{Definition, Executor, Kind, OnUnknown, Status, Step, StepContext, StepError};
use futures::StreamExt;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use support::{Trip, ended, quick_retry, sqlite};

const LIMIT: Duration = Duration::from_secs(30);
/// One attempt's time limit; an attempt drawn as "unknown" sleeps far
/// longer and is cut off.
const TIMEOUT: Duration = Duration::from_millis(500);
const ATTEMPTS: u32 = 3;
/// Compensation attempts before stuck: more than a compensation's
/// transient answers plus one attempt a crash may leave open.
const COMPENSATION_ATTEMPTS: u32 = 5;
const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

/// What a step's action answers, by attempt number (which counts
/// attempts a crash cut short, so a crash does not shift the script).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// Transient on attempts `1..=k`, then ok (`k < ATTEMPTS`).
    TransientThenOk(u32),
    /// Transient on every attempt: out of attempts.
    Exhausted,
    /// The service refuses for good.
    Refused,
    /// Attempt 1 times out (outcome unknown; it never applies), then ok.
    Unknown,
}

impl Outcome {
    /// The answer to attempt `n`: `None` ok, or the error (a timeout is
    /// `Some(None)`).
    fn answer(self, n: u32) -> Option<Option<StepError>> {
        let transient = || Some(Some(StepError::transient("busy")));
        match self {
            Outcome::Ok => None,
            Outcome::TransientThenOk(k) if n <= k => transient(),
            Outcome::TransientThenOk(_) => None,
            Outcome::Exhausted => transient(),
            Outcome::Refused => Some(Some(StepError::compensate("refused"))),
            Outcome::Unknown if n == 1 => Some(None),
            Outcome::Unknown => None,
        }
    }

    /// Whether the step succeeds in the end (no crash).
    fn succeeds(self) -> bool {
        !matches!(self, Outcome::Exhausted | Outcome::Refused)
    }
}

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    steps: usize,
    pivot: usize,
    outcomes: Vec<Outcome>,
    rules: Vec<OnUnknown>,
    /// Transient answers of each compensation before it succeeds.
    undo_transients: Vec<u32>,
    /// Crash at this boundary (counted from 0), if the run gets there.
    crash_at: usize,
}

impl Case {
    fn draw(seed: u64) -> Case {
        let mut rng = SmallRng::seed_from_u64(seed);
        let steps = rng.random_range(3..=5);
        let pivot = rng.random_range(1..steps);
        let outcomes = (0..steps)
            .map(|i| {
                // Before and at the pivot anything; after it a step is
                // retried until it succeeds, so it does.
                let n = if i <= pivot { 5 } else { 3 };
                match rng.random_range(0..n) {
                    0 => Outcome::Ok,
                    1 => Outcome::TransientThenOk(rng.random_range(1..ATTEMPTS)),
                    2 => Outcome::Unknown,
                    3 => Outcome::Exhausted,
                    _ => Outcome::Refused,
                }
            })
            .collect();
        let rules = (0..steps)
            .map(|i| {
                if i < pivot && rng.random_bool(0.5) {
                    OnUnknown::Compensate
                } else {
                    OnUnknown::RunAgain
                }
            })
            .collect();
        let undo_transients = (0..steps).map(|_| rng.random_range(0..=2)).collect();
        Case {
            seed,
            steps,
            pivot,
            outcomes,
            rules,
            undo_transients,
            // About six boundaries per step run: most cases crash.
            crash_at: rng.random_range(0..6 * steps),
        }
    }
}

/// An in-process service answering by step and attempt, applying each
/// idempotency key's effect once.
#[derive(Clone, Default)]
struct Service {
    applied: Arc<Mutex<HashMap<String, String>>>,
    calls: Arc<Mutex<HashMap<String, u32>>>,
}

impl Service {
    async fn call(
        &self,
        key: &str,
        what: &str,
        answer: Option<Option<StepError>>,
    ) -> Result<(), StepError> {
        *self.calls.lock().entry(key.into()).or_default() += 1;
        match answer {
            None => {}
            Some(Some(e)) => return Err(e),
            Some(None) => tokio::time::sleep(Duration::from_secs(30)).await,
        }
        self.applied
            .lock()
            .entry(key.into())
            .or_insert_with(|| what.into());
        Ok(())
    }

    /// The effects applied, sorted.
    fn effects(&self) -> Vec<String> {
        let mut v: Vec<String> = self.applied.lock().values().cloned().collect();
        v.sort();
        v
    }
}

fn definition(case: &Case, svc: &Service) -> Definition<Trip> {
    let mut b = Definition::builder("random", 1);
    for (i, &name) in NAMES.iter().enumerate().take(case.steps) {
        let (svc_a, outcome) = (svc.clone(), case.outcomes[i]);
        let mut step = Step::new(name, move |c: StepContext<Trip>| {
            let svc = svc_a.clone();
            async move {
                let answer = outcome.answer(c.attempt());
                svc.call(c.idempotency_key(), name, answer).await?;
                let mut t = c.into_state();
                t.done.push(name.into());
                Ok(t)
            }
        })
        .retry(quick_retry(ATTEMPTS))
        .timeout(TIMEOUT)
        .on_unknown(case.rules[i]);
        if i < case.pivot {
            let (svc_c, k) = (svc.clone(), case.undo_transients[i]);
            step = step.compensate(move |c: StepContext<Trip>| {
                let svc = svc_c.clone();
                async move {
                    let answer = (c.attempt() <= k).then(|| Some(StepError::transient("busy")));
                    svc.call(c.idempotency_key(), &format!("{name}/compensate"), answer)
                        .await?;
                    let mut t = c.into_state();
                    t.done.push(format!("undo {name}"));
                    Ok(t)
                }
            });
        }
        if i == case.pivot {
            step = step.pivot();
        }
        b = b.step(step);
    }
    b.build().expect("a valid definition")
}

/// What the model of the plan expects.
#[derive(Debug, PartialEq)]
struct Expected {
    status: Status,
    done: Vec<String>,
    effects: Vec<String>,
    /// An effect that may or may not have been applied (a step whose
    /// unknown outcome was compensated).
    maybe: Option<String>,
}

/// Whether the crash left step `name`'s attempt open: its `step_started`
/// durable, its outcome not.
fn open_at(crash: &Option<Boundary>, name: &str) -> bool {
    let is = |s: &Option<String>| s.as_deref() == Some(name);
    match crash {
        Some(Boundary::AfterAppend(Kind::StepStarted, s)) => is(s),
        Some(Boundary::BeforeAction(s) | Boundary::AfterAction(s)) => s == name,
        Some(Boundary::BeforeAppend(Kind::StepSucceeded | Kind::StepFailed, s)) => is(s),
        _ => false,
    }
}

fn expect(case: &Case, crash: &Option<Boundary>) -> Expected {
    let mut done: Vec<String> = Vec::new();
    let mut effects: Vec<String> = Vec::new();
    for (i, &name) in NAMES.iter().enumerate().take(case.steps) {
        let outcome = case.outcomes[i];
        let compensate_rule = i < case.pivot && case.rules[i] == OnUnknown::Compensate;
        // An outcome left unknown (timed out, or cut by the crash) under
        // the rule "compensate": this step is compensated too.
        let cut = open_at(crash, name);
        // Or cut by the crash, then run again under "run again" and out of
        // attempts: the cut attempt may have applied (the later transient
        // failures say nothing about it), so it is compensated too.
        let unknown = (compensate_rule && (outcome == Outcome::Unknown || cut))
            || (i < case.pivot && outcome == Outcome::Exhausted && cut);
        if unknown || !outcome.succeeds() {
            let mut undo: Vec<usize> = (0..i).rev().collect();
            let mut maybe = None;
            if unknown {
                undo.insert(0, i);
                maybe = Some(name.to_string());
            }
            for &j in &undo {
                done.push(format!("undo {}", NAMES[j]));
                effects.push(format!("{}/compensate", NAMES[j]));
            }
            effects.sort();
            return Expected {
                status: Status::Compensated,
                done,
                effects,
                maybe,
            };
        }
        done.push(name.into());
        effects.push(name.into());
    }
    effects.sort();
    Expected {
        status: Status::Completed,
        done,
        effects,
        maybe: None,
    }
}

/// Runs one case; returns whether it crashed.
async fn run(case: Case, base: u64) -> bool {
    let at = format!("seed {base}, case seed {}: {case:?}", case.seed);
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    let count = Arc::new(Mutex::new((0usize, None::<Boundary>)));
    let hook = {
        let (count, k) = (count.clone(), case.crash_at);
        move |b: &Boundary| {
            let mut c = count.lock();
            let crash = c.0 == k;
            c.0 += 1;
            if crash {
                c.1 = Some(b.clone());
            }
            crash
        }
    };
    let config = || {
        ballast_saga::Config::builder()
            .table("ballast_saga")
            .lease(Duration::from_millis(300))
            .tick(Duration::from_millis(50))
            .compensation_attempts(COMPENSATION_ATTEMPTS)
            .compensation_backoff(
                ballast_retry::Backoff::constant(Duration::from_millis(5))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let a = Executor::builder(sqlite(&dir).await)
        .config(config())
        .register(definition(&case, &svc))
        .crash_hook(hook)
        .start()
        .await
        .unwrap();
    let id = a.start_saga("random", 1, &Trip::default()).await.unwrap();
    tokio::time::timeout(LIMIT, async {
        while count.lock().1.is_none() && a.saga(id).await.unwrap().status.is_active() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{at}: neither crashed nor ended"));
    let crash = count.lock().1.clone();
    let info = if crash.is_some() {
        drop(a);
        let b = Executor::builder(sqlite(&dir).await)
            .config(config())
            .register(definition(&case, &svc))
            .start()
            .await
            .unwrap();
        let info = ended(&b, id, LIMIT).await;
        b.shutdown().await.unwrap();
        info
    } else {
        let info = ended(&a, id, LIMIT).await;
        a.shutdown().await.unwrap();
        info
    };
    let at = format!("{at}, crashed at {crash:?}");
    let want = expect(&case, &crash);
    let state: Trip = serde_json::from_value(info.state.clone()).unwrap();
    assert_eq!(info.status, want.status, "{at}: {info:?}");
    assert_eq!(state.done, want.done, "{at}");
    let mut effects = svc.effects();
    if let Some(m) = &want.maybe
        && let Some(p) = effects.iter().position(|e| e == m)
    {
        effects.remove(p);
    }
    assert_eq!(effects, want.effects, "{at}: each effect applied once");
    crash.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_outcomes_and_a_crash_at_a_random_boundary_end_as_the_model_says_each_effect_once() {
    let seed: u64 = match std::env::var("BALLAST_SAGA_SEED") {
        Ok(s) => s.parse().expect("BALLAST_SAGA_SEED is a number"),
        Err(_) => rand::rng().random(),
    };
    let cases: u64 = std::env::var("BALLAST_SAGA_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    eprintln!("property: seed {seed} (replay with BALLAST_SAGA_SEED={seed}), {cases} cases");
    let crashed = futures::stream::iter(0..cases)
        .map(|n| run(Case::draw(seed.wrapping_add(n)), seed))
        .buffer_unordered(8)
        .filter(|c| std::future::ready(*c))
        .count()
        .await;
    eprintln!("property: seed {seed}: {cases} cases passed, {crashed} with a crash");
}

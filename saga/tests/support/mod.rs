//! Shared by the saga's integration tests: a fake service that counts the
//! effects it applies by idempotency key and fails on command, the
//! four-step trip saga over it, database setup, and the service-variable
//! rule (skip with a printed reason, or fail under
//! BALLAST_REQUIRE_SERVICES=1).
#![allow(dead_code)]

use ballast_saga::{Definition, Group, OnUnknown, Step, StepContext, StepError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// The saga's state: what the steps did, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    pub done: Vec<String>,
}

/// What the service answers to one call of a step.
#[derive(Debug, Clone)]
pub enum Answer {
    Ok,
    Transient,
    Refuse,
    /// Apply the effect, then lose the answer: the step reports an unknown
    /// outcome (`StepError::unknown`), as a client whose deadline passed
    /// after sending would.
    Unknown,
    /// Wait this long before applying (to time out an attempt).
    Slow(Duration),
    /// Wait for the gate to open, then apply.
    Gate(Arc<tokio::sync::Semaphore>),
}

/// A fake downstream service: applies an effect once per idempotency key
/// (later calls with the key change nothing), and counts both.
#[derive(Clone, Default)]
pub struct Service {
    /// Effects applied, by key.
    pub applied: Arc<Mutex<HashMap<String, u32>>>,
    /// Calls made, by key.
    pub calls: Arc<Mutex<HashMap<String, u32>>>,
    /// Scripted answers per step (or `<step>/compensate`), used in order;
    /// `Ok` once a script runs out.
    pub script: Arc<Mutex<HashMap<String, VecDeque<Answer>>>>,
    /// Answers used for every call of a step, after its script.
    pub always: Arc<Mutex<HashMap<String, Answer>>>,
}

impl Service {
    pub fn on(&self, what: &str, answers: impl IntoIterator<Item = Answer>) {
        self.script
            .lock()
            .entry(what.into())
            .or_default()
            .extend(answers);
    }

    pub fn always(&self, what: &str, answer: Answer) {
        self.always.lock().insert(what.into(), answer);
    }

    pub async fn call(&self, what: &str, key: &str) -> Result<(), StepError> {
        *self.calls.lock().entry(key.into()).or_default() += 1;
        let answer = {
            let next = self.script.lock().get_mut(what).and_then(|q| q.pop_front());
            next.or_else(|| self.always.lock().get(what).cloned())
                .unwrap_or(Answer::Ok)
        };
        match answer {
            Answer::Ok => {}
            Answer::Unknown => {
                self.applied.lock().entry(key.into()).or_insert(1);
                return Err(StepError::unknown(format!("{what}: no answer in time")));
            }
            Answer::Transient => return Err(StepError::transient(format!("{what} unavailable"))),
            Answer::Refuse => return Err(StepError::compensate(format!("{what} refused"))),
            Answer::Slow(d) => tokio::time::sleep(d).await,
            Answer::Gate(g) => {
                g.acquire().await.expect("gate open").forget();
            }
        }
        let mut applied = self.applied.lock();
        applied.entry(key.into()).or_insert(1);
        Ok(())
    }

    /// How many times the effect of `key` was applied (0 or 1: the
    /// service deduplicates), and how many calls it got.
    pub fn applied(&self, key: &str) -> u32 {
        self.applied.lock().get(key).copied().unwrap_or(0)
    }

    pub fn calls(&self, key: &str) -> u32 {
        self.calls.lock().get(key).copied().unwrap_or(0)
    }

    /// Effects applied with keys of this saga.
    pub fn effects_of(&self, saga: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .applied
            .lock()
            .keys()
            .filter(|k| k.starts_with(saga))
            .map(|k| k[saga.len() + 1..].to_string())
            .collect();
        v.sort();
        v
    }
}

pub const STEPS: [&str; 4] = ["flight", "hotel", "payment", "confirm"];

fn action(
    svc: &Service,
    name: &'static str,
) -> impl Fn(StepContext<Trip>) -> futures::future::BoxFuture<'static, Result<Trip, StepError>>
+ Send
+ Sync
+ 'static {
    let svc = svc.clone();
    move |c: StepContext<Trip>| {
        let svc = svc.clone();
        Box::pin(async move {
            svc.call(name, c.idempotency_key()).await?;
            let mut t = c.into_state();
            t.done.push(name.into());
            Ok(t)
        })
    }
}

fn compensation(
    svc: &Service,
    name: &'static str,
) -> impl Fn(StepContext<Trip>) -> futures::future::BoxFuture<'static, Result<Trip, StepError>>
+ Send
+ Sync
+ 'static {
    let svc = svc.clone();
    let what = format!("{name}/compensate");
    move |c: StepContext<Trip>| {
        let svc = svc.clone();
        let what = what.clone();
        Box::pin(async move {
            svc.call(&what, c.idempotency_key()).await?;
            let mut t = c.into_state();
            t.done.push(format!("undo {name}"));
            Ok(t)
        })
    }
}

/// Fast retries for tests: `attempts` tries, 5 ms apart.
pub fn quick_retry(attempts: u32) -> ballast_retry::Config {
    ballast_retry::Config::builder()
        .max_attempts(attempts)
        .backoff(
            ballast_retry::Backoff::constant(Duration::from_millis(5))
                .build()
                .unwrap(),
        )
        .no_budget()
        .build()
        .unwrap()
}

/// flight and hotel (compensable), payment (the pivot), confirm (after
/// the pivot): "trip" at `version`.
pub fn trip(svc: &Service, version: u32) -> Definition<Trip> {
    trip_with(svc, version, OnUnknown::RunAgain)
}

/// [`trip`] with the hotel's unknown outcome handled by `hotel`.
pub fn trip_with(svc: &Service, version: u32, hotel: OnUnknown) -> Definition<Trip> {
    trip_timed(svc, version, hotel, Duration::from_secs(5))
}

/// [`trip_with`] with each step's attempt bounded by `timeout`: a test
/// that holds an action on purpose for longer than a loaded machine may
/// take to do the rest gives it a long one.
pub fn trip_timed(
    svc: &Service,
    version: u32,
    hotel: OnUnknown,
    timeout: Duration,
) -> Definition<Trip> {
    let step = |name: &'static str| {
        Step::new(name, action(svc, name))
            .retry(quick_retry(3))
            .timeout(timeout)
    };
    Definition::builder("trip", version)
        .step(step("flight").compensate(compensation(svc, "flight")))
        .step(
            step("hotel")
                .compensate(compensation(svc, "hotel"))
                .on_unknown(hotel),
        )
        .step(step("payment").pivot())
        .step(step("confirm"))
        .build()
        .expect("a valid definition")
}

/// The steps of [`grouped_trip`]: car and hotel run at the same time.
pub const GROUPED_STEPS: [&str; 5] = ["flight", "hotel", "car", "payment", "confirm"];

/// A parallel group's merge for [`Trip`]: each step of the group starts
/// from the state at the group's start and adds one entry; the merge adds
/// that entry to the state so far.
pub fn merge_trip(mut so_far: Trip, mine: Trip) -> Trip {
    so_far.done.extend(mine.done.last().cloned());
    so_far
}

/// flight, then hotel and car in a parallel group (both compensable; the
/// hotel's unknown outcome handled by `hotel`), then payment (the pivot)
/// and confirm: "trip" at `version`.
pub fn grouped_trip(svc: &Service, version: u32, hotel: OnUnknown) -> Definition<Trip> {
    let step = |name: &'static str| {
        Step::new(name, action(svc, name))
            .retry(quick_retry(3))
            .timeout(Duration::from_secs(5))
    };
    Definition::builder("trip", version)
        .step(step("flight").compensate(compensation(svc, "flight")))
        .parallel(
            Group::new(merge_trip)
                .step(
                    step("hotel")
                        .compensate(compensation(svc, "hotel"))
                        .on_unknown(hotel),
                )
                .step(step("car").compensate(compensation(svc, "car"))),
        )
        .step(step("payment").pivot())
        .step(step("confirm"))
        .build()
        .expect("a valid definition")
}

/// Fast leases for tests.
pub fn config(table: &str) -> ballast_saga::Config {
    ballast_saga::Config::builder()
        .table(table)
        .lease(Duration::from_millis(300))
        .tick(Duration::from_millis(50))
        .compensation_attempts(3)
        .compensation_backoff(
            ballast_retry::Backoff::constant(Duration::from_millis(5))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// The service URL in `var`, or `None` after printing why `test` skips;
/// panics when `BALLAST_REQUIRE_SERVICES=1` (the rule every ballast test
/// keeps, in `ballast-test-support`).
#[allow(unused_imports)] // each test binary uses a part
pub use ballast_test_support::service;

/// A SQLite pool on a new file in `dir`.
pub async fn sqlite(dir: &tempfile::TempDir) -> sqlx::SqlitePool {
    ballast_saga::sqlite::connect(&dir.path().join("saga.db"))
        .await
        .expect("sqlite opens")
}

pub async fn postgres(url: &str, max: u32) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .connect(url)
        .await
        .expect("postgres connects")
}

pub fn unique_table(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
        .chars()
        .take(36)
        .collect()
}

/// Drops the saga tables made for `table`.
pub async fn drop_saga_tables(pool: &sqlx::PgPool, table: &str) {
    sqlx::query(&format!(
        "DROP TABLE IF EXISTS {table}_log, {table}_sagas, {table}_version"
    ))
    .execute(pool)
    .await
    .expect("drop the test's tables");
}

/// Drops every table ballast-outbox made for `table`.
pub async fn drop_outbox_tables(pool: &sqlx::PgPool, table: &str) {
    let suffixes = [
        "",
        "_keys",
        "_leases",
        "_relays",
        "_held",
        "_dead",
        "_published",
        "_decisions",
        "_meta",
        "_version",
    ];
    let list: Vec<String> = suffixes.iter().map(|s| format!("{table}{s}")).collect();
    sqlx::query(&format!("DROP TABLE IF EXISTS {}", list.join(", ")))
        .execute(pool)
        .await
        .expect("drop the test's outbox tables");
}

/// Waits for the saga to end, at most `limit`.
pub async fn ended(
    handle: &ballast_saga::ExecutorHandle,
    id: ballast_saga::SagaId,
    limit: Duration,
) -> ballast_saga::SagaInfo {
    tokio::time::timeout(limit, handle.wait(id, Duration::from_millis(10)))
        .await
        .expect("the saga ends in time")
        .expect("the saga reads back")
}

/// The kinds (and steps) of a saga's log, as `kind` or `kind:step`.
pub async fn kinds(handle: &ballast_saga::ExecutorHandle, id: ballast_saga::SagaId) -> Vec<String> {
    handle
        .history(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| match e.step {
            Some(s) => format!("{}:{s}", e.kind.as_str()),
            None => e.kind.as_str().to_string(),
        })
        .collect()
}

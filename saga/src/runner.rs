//! One saga's task: rebuild its position from the log, then ask the plan
//! what to do next and do it, writing each transition ahead (the
//! `step_started` entry is durable before the action runs). Every append is
//! fenced by the lease's epoch; a fenced runner stops at once.
//!
//! Actions run in tasks of their own, held in a set of steps in flight
//! (with the backoffs before retries), so a parallel group's steps run at
//! once; every log write stays in this one task, one at a time. When the
//! plan turns away from running forward (compensate, pause), the set is
//! dropped: each task still running is aborted, its outcome unknown.

use crate::definition::{Call, Erased, ErasedFn};
use crate::executor::Inner;
use crate::operator::Decision;
use crate::plan::{Next, Position, Record, Shape, Why, decide};
use crate::saga::{Kind, LogEntry, Status};
use crate::step::{Outgoing, StepError, StepErrorKind};
use crate::store::{Append, Appended, Lease, Loaded, now_ms};
use crate::{Error, SagaId};
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::task::JoinHandle;

type Outcome = Result<Value, (StepErrorKind, String)>;

/// What a step in flight reports.
enum Event {
    /// Its backoff is over: start attempt `attempt`.
    Due { step: usize, attempt: u32 },
    /// Its action ended.
    Done {
        step: usize,
        attempt: u32,
        out: Outcome,
        sent: Outgoing,
    },
}

/// The steps in flight: backoffs and running actions.
type Flight = FuturesUnordered<BoxFuture<'static, Event>>;

/// An action's task, aborted when dropped (its group was cancelled, or the
/// runner stopped).
struct AbortOnDrop(JoinHandle<Outcome>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Future for AbortOnDrop {
    type Output = Outcome;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        Pin::new(&mut self.0).poll(cx).map(|r| {
            r.unwrap_or_else(|_| {
                Err((
                    StepErrorKind::Pause,
                    "the step's task ended without an outcome".into(),
                ))
            })
        })
    }
}

/// The runner stopped (fenced, or the executor crashed at a hook).
struct Stop;

struct Runner<'a> {
    inner: &'a Inner,
    lease: Lease,
    def: Arc<Erased>,
    shape: Shape,
    pos: Position,
    cancel: bool,
    deadline_ms: Option<i64>,
    /// The last failure message of each step, for a pause's reason.
    errors: HashMap<usize, String>,
    /// Why the last append was refused (a message the outbox would not
    /// take): nothing was written.
    refused: Option<String>,
    /// The number the next log entry gets.
    next_n: i64,
}

/// The number after the log's last entry.
fn next_n(log: &[LogEntry]) -> i64 {
    log.last().map_or(1, |e| e.n + 1)
}

/// Runs the saga under `lease` until it ends or this executor loses it;
/// `fresh` is the saga as its creator wrote it (else it is read back).
pub(crate) async fn run(inner: &Inner, lease: Lease, fresh: Option<Loaded>) {
    let id = lease.id;
    let loaded = match fresh {
        Some(l) => l,
        None => loop {
            match inner.store.load(id).await {
                Ok(Some(l)) => break l,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(saga = %id, error = %e, "saga: loading failed; trying again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        },
    };
    if !loaded.info.status.is_active() {
        return;
    }
    let key = (loaded.info.name.clone(), loaded.info.version);
    let Some(def) = inner.definitions.get(&key).cloned() else {
        let reason = format!(
            "saga {:?} version {} is not registered in this executor",
            key.0, key.1
        );
        tracing::warn!(saga = %id, %reason, "saga paused");
        let entry = Append {
            n: next_n(&loaded.log),
            status: Some(Status::Paused),
            error: Some(reason),
            ..Append::new(Kind::Paused)
        };
        let _ = append_retrying(inner, lease, entry).await;
        return;
    };
    let records = match records(&def, &loaded.log) {
        Ok(r) => r,
        Err(reason) => {
            let entry = Append {
                n: next_n(&loaded.log),
                status: Some(Status::Paused),
                error: Some(reason),
                ..Append::new(Kind::Paused)
            };
            let _ = append_retrying(inner, lease, entry).await;
            return;
        }
    };
    let shape = Shape::of(&def, inner.config.compensation_attempts);
    let mut runner = Runner {
        inner,
        lease,
        pos: Position::replay(&shape, &records),
        def,
        shape,
        cancel: loaded.cancel_requested,
        deadline_ms: loaded.deadline_ms,
        errors: HashMap::new(),
        refused: None,
        next_n: next_n(&loaded.log),
    };
    if runner.drive().await.is_err() {
        tracing::debug!(saga = %id, "saga runner stopped");
    }
}

/// The log as the plan reads it; a step the definition does not know
/// (the log and the definition disagree) is a reason to pause.
fn records(def: &Erased, log: &[LogEntry]) -> Result<Vec<Record>, String> {
    log.iter()
        .map(|e| {
            let step = match &e.step {
                Some(name) => Some(def.index_of(name).ok_or_else(|| {
                    format!(
                        "the log names step {name:?}, which version {} of {:?} does not have",
                        def.version, def.name
                    )
                })?),
                None => None,
            };
            let failure = match e.kind {
                Kind::StepFailed => e
                    .error
                    .as_deref()
                    .and_then(|s| s.split_once(": "))
                    .and_then(|(class, _)| StepErrorKind::parse(class)),
                _ => None,
            };
            let decision = match e.kind {
                Kind::OperatorDecision => e.error.as_deref().and_then(Decision::from_entry),
                _ => None,
            };
            Ok(Record {
                kind: e.kind,
                step,
                state: e.state.clone(),
                failure,
                decision,
            })
        })
        .collect()
}

/// Appends, waiting out database failures (the saga pauses while the
/// database is away, and goes on when it returns). Fenced: stop.
async fn append_retrying(inner: &Inner, lease: Lease, entry: Append) -> Result<Appended, Stop> {
    let mut wait = Duration::from_millis(50);
    loop {
        match inner.committer.append(lease, entry.clone()).await {
            Ok(a) => return Ok(a),
            Err(Error::Fenced(_)) => {
                tracing::info!(saga = %lease.id, epoch = lease.epoch, "saga taken over; stopping");
                return Err(Stop);
            }
            Err(Error::Stopped) => return Err(Stop),
            Err(e) => {
                tracing::warn!(saga = %lease.id, error = %e, "saga log append failed; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
        }
    }
}

impl Runner<'_> {
    fn id(&self) -> SagaId {
        self.lease.id
    }

    /// Runs `f` unless a clean shutdown begins first.
    async fn or_stop<F: std::future::Future>(&self, f: F) -> Result<F::Output, Stop> {
        tokio::select! {
            out = f => Ok(out),
            _ = self.inner.stopping() => Err(Stop),
        }
    }

    fn name(&self, step: usize) -> String {
        self.def.steps[step].name.to_string()
    }

    #[cfg(feature = "crash-hooks")]
    fn crash(&self, at: crate::crash::Boundary) -> Result<(), Stop> {
        if self.inner.crash_at(at) {
            Err(Stop)
        } else {
            Ok(())
        }
    }

    /// Writes `record` ahead (with the row changes in `entry`) and folds it
    /// into the position. `Ok(false)`: a gated entry was refused because a
    /// cancel was requested.
    async fn write(&mut self, record: Record, mut entry: Append) -> Result<bool, Stop> {
        entry.n = self.next_n;
        entry.kind = record.kind;
        entry.step = record.step.map(|i| self.name(i));
        entry.state = record.state.clone();
        #[cfg(feature = "crash-hooks")]
        self.crash(crate::crash::Boundary::BeforeAppend(
            entry.kind,
            entry.step.clone(),
        ))?;
        let (kind, step) = (entry.kind, entry.step.clone());
        match append_retrying(self.inner, self.lease, entry).await? {
            Appended::Cancelled => {
                self.cancel = true;
                return Ok(false);
            }
            Appended::InvalidMessage(reason) => {
                self.refused = Some(reason);
                return Ok(false);
            }
            Appended::Written { cancel_requested } => self.cancel |= cancel_requested,
        }
        self.next_n += 1;
        self.pos.apply(&record);
        tracing::debug!(saga = %self.id(), kind = kind.as_str(), step = ?step, "saga log");
        #[cfg(feature = "crash-hooks")]
        self.crash(crate::crash::Boundary::AfterAppend(kind, step))?;
        #[cfg(not(feature = "crash-hooks"))]
        let _ = (kind, step);
        Ok(true)
    }

    async fn drive(&mut self) -> Result<(), Stop> {
        let mut flight = Flight::new();
        let mut running: Vec<usize> = Vec::new();
        loop {
            let next = decide(
                &self.shape,
                &self.pos,
                &running,
                self.cancel,
                now_ms(),
                self.deadline_ms,
            );
            match next {
                Next::Nothing => return Ok(()),
                Next::Run {
                    step,
                    attempt,
                    retry,
                } => {
                    running.push(step);
                    if retry > 0 {
                        let wait = self.def.steps[step].retry.backoff().capped(retry - 1);
                        flight.push(Box::pin(async move {
                            tokio::time::sleep(wait).await;
                            Event::Due { step, attempt }
                        }));
                    } else {
                        self.start(step, attempt, &mut flight, &mut running).await?;
                    }
                    continue;
                }
                Next::Wait => {
                    let Some(event) = self.or_stop(flight.next()).await? else {
                        tracing::error!(saga = %self.id(), "saga plan waits with nothing in flight; stopping");
                        return Err(Stop);
                    };
                    match event {
                        Event::Due { step, attempt } => {
                            self.start(step, attempt, &mut flight, &mut running).await?
                        }
                        Event::Done {
                            step,
                            attempt,
                            out,
                            sent,
                        } => {
                            running.retain(|&s| s != step);
                            let sent = std::mem::take(&mut *sent.lock());
                            self.finish(step, attempt, out, sent).await?;
                        }
                    }
                    continue;
                }
                _ => {}
            }
            // Anything else ends the forward run: steps still in flight (a
            // group's siblings) are cancelled, their outcome unknown.
            if !running.is_empty() {
                let names: Vec<String> = running.iter().map(|&i| self.name(i)).collect();
                tracing::info!(saga = %self.id(), steps = ?names, "saga: cancelling the steps in flight");
                flight = Flight::new();
                running.clear();
                #[cfg(feature = "crash-hooks")]
                self.crash(crate::crash::Boundary::SiblingsCancelled(names))?;
            }
            match next {
                Next::Compensate { also, why } => {
                    let reason = self.why(&why);
                    tracing::info!(saga = %self.id(), %reason, "saga compensating");
                    let record = Record {
                        step: also,
                        ..Record::new(Kind::Compensating)
                    };
                    let entry = Append {
                        status: Some(Status::Compensating),
                        error: Some(reason),
                        ..Append::new(Kind::Compensating)
                    };
                    self.write(record, entry).await?;
                }
                Next::Undo { step, attempt } => self.undo(step, attempt).await?,
                Next::Pause { step } => {
                    let reason = match (self.pos.failed[step], self.errors.get(&step)) {
                        (Some(StepErrorKind::Pause), Some(message)) => {
                            format!(
                                "step {:?} asked for an operator: {message}",
                                self.name(step)
                            )
                        }
                        (Some(StepErrorKind::Pause), None) => {
                            format!("step {:?} asked for an operator", self.name(step))
                        }
                        _ => format!(
                            "step {:?} failed after the pivot and cannot be compensated",
                            self.name(step)
                        ),
                    };
                    self.end(Kind::Paused, Status::Paused, Some(reason)).await?;
                }
                Next::Stuck { step } => {
                    let reason = format!(
                        "the compensation of step {:?} failed {} times",
                        self.name(step),
                        self.shape.compensation_attempts
                    );
                    tracing::error!(saga = %self.id(), %reason, "saga stuck");
                    self.end(Kind::Stuck, Status::Stuck, Some(reason)).await?;
                }
                Next::Complete => self.end(Kind::Completed, Status::Completed, None).await?,
                Next::Compensated => {
                    self.end(Kind::SagaCompensated, Status::Compensated, None)
                        .await?
                }
                Next::Nothing | Next::Run { .. } | Next::Wait => {}
            }
        }
    }

    fn why(&self, why: &Why) -> String {
        match why {
            Why::Cancelled => "cancelled".into(),
            Why::DeadlinePassed => "the saga's deadline passed before its pivot".into(),
            Why::StepFailed { step, attempts } => {
                format!("step {:?} failed {attempts} times", self.name(*step))
            }
            Why::StepRefused { step } => format!("step {:?} failed for good", self.name(*step)),
            Why::OutcomeUnknown { step } => {
                format!("step {:?}'s outcome is unknown", self.name(*step))
            }
        }
    }

    async fn end(
        &mut self,
        kind: Kind,
        status: Status,
        reason: Option<String>,
    ) -> Result<(), Stop> {
        let entry = Append {
            status: Some(status),
            error: reason,
            ..Append::new(kind)
        };
        self.write(Record::new(kind), entry).await?;
        Ok(())
    }

    /// The time one attempt of `step` may take: its timeout, and for a
    /// step before the pivot no later than the saga's deadline (the pivot
    /// and the steps after it are not cut off by it).
    fn attempt_time(&self, step: usize) -> Duration {
        let t = self.def.steps[step].timeout;
        let bounded = self.shape.pivot.is_none_or(|p| step < p);
        match self.deadline_ms {
            Some(d) if bounded => t.min(Duration::from_millis((d - now_ms()).max(0) as u64)),
            _ => t,
        }
    }

    /// Writes attempt `attempt` of `step` ahead, then starts its action
    /// in a task of its own.
    async fn start(
        &mut self,
        step: usize,
        attempt: u32,
        flight: &mut Flight,
        running: &mut Vec<usize>,
    ) -> Result<(), Stop> {
        let def = self.def.clone();
        let s = &def.steps[step];
        #[cfg(feature = "crash-hooks")]
        if s.group.is_some() && self.shape.unit(step).all(|i| self.pos.attempts[i] == 0) {
            let names = self.shape.unit(step).map(|i| self.name(i)).collect();
            self.crash(crate::crash::Boundary::GroupStarting(names))?;
        }
        // A cancel stops a step before the pivot, or the pivot, from
        // starting; not one being settled while compensating.
        let gate = !self.pos.compensating && self.shape.pivot.is_none_or(|p| step <= p);
        let entry = Append {
            gate,
            pivot: self.shape.pivot == Some(step),
            ..Append::new(Kind::StepStarted)
        };
        if !self
            .write(Record::new(Kind::StepStarted).step(step), entry)
            .await?
        {
            running.retain(|&i| i != step);
            return Ok(()); // cancelled: the plan compensates
        }
        #[cfg(feature = "crash-hooks")]
        self.crash(crate::crash::Boundary::BeforeAction(self.name(step)))?;
        // A group's steps all work on the state the group started from.
        let state = if s.group.is_some() {
            self.pos.base.clone()
        } else {
            self.pos.state.clone()
        };
        let key = format!("{}/{}", self.id(), s.name);
        let limit = self.attempt_time(step);
        let (task, sent) = self.spawn_call(&s.action, state, step, attempt, key, limit);
        flight.push(Box::pin(async move {
            let out = task.await;
            Event::Done {
                step,
                attempt,
                out,
                sent,
            }
        }));
        Ok(())
    }

    /// Logs how attempt `attempt` of `step` ended; a group step's state is
    /// merged into the state so far first, and the merged state logged
    /// with the messages the attempt sent (dropped if it failed).
    async fn finish(
        &mut self,
        step: usize,
        attempt: u32,
        out: Outcome,
        sent: Vec<ballast_outbox::Message>,
    ) -> Result<(), Stop> {
        #[cfg(feature = "crash-hooks")]
        self.crash(crate::crash::Boundary::AfterAction(self.name(step)))?;
        let def = self.def.clone();
        let s = &def.steps[step];
        let out = match (out, &s.group) {
            (Ok(mine), Some((_, merge))) => {
                merge(self.pos.state.clone(), mine).map_err(|e| (StepErrorKind::Pause, e))
            }
            (out, _) => out,
        };
        let out: Outcome = match out {
            Ok(state) => {
                let record = Record::new(Kind::StepSucceeded).step(step).state(state);
                let entry = Append {
                    messages: sent,
                    ..Append::new(Kind::StepSucceeded)
                };
                if self.write(record, entry).await? {
                    return Ok(());
                }
                // The outbox refused a message: nothing was written.
                let why = self.refused.take().unwrap_or_default();
                Err((StepErrorKind::Pause, why))
            }
            Err(e) => Err(e),
        };
        match out {
            Ok(_) => {}
            Err((failure, message)) => {
                tracing::info!(saga = %self.id(), step = %s.name, attempt, %message, "saga step failed");
                let record = Record::new(Kind::StepFailed).step(step).failure(failure);
                let entry = Append {
                    error: Some(format!("{}: {message}", failure.as_str())),
                    ..Append::new(Kind::StepFailed)
                };
                self.write(record, entry).await?;
                self.errors.insert(step, message);
            }
        }
        Ok(())
    }

    async fn undo(&mut self, step: usize, attempt: u32) -> Result<(), Stop> {
        let def = self.def.clone();
        let s = &def.steps[step];
        let Some(compensation) = &s.compensation else {
            return Ok(()); // the plan only picks compensable steps
        };
        if attempt > 1 {
            let backoff = &self.inner.config.compensation_backoff;
            self.or_stop(tokio::time::sleep(backoff.capped(attempt - 2)))
                .await?;
        }
        self.write(
            Record::new(Kind::CompensationStarted).step(step),
            Append::new(Kind::CompensationStarted),
        )
        .await?;
        #[cfg(feature = "crash-hooks")]
        self.crash(crate::crash::Boundary::BeforeCompensation(self.name(step)))?;
        let key = format!("{}/{}/compensate", self.id(), s.name);
        let state = self.pos.state.clone();
        let (task, sent) = self.spawn_call(compensation, state, step, attempt, key, s.timeout);
        let out = self.or_stop(task).await?;
        let sent = std::mem::take(&mut *sent.lock());
        #[cfg(feature = "crash-hooks")]
        self.crash(crate::crash::Boundary::AfterCompensation(self.name(step)))?;
        let out: Outcome = match out {
            Ok(state) => {
                let entry = Append {
                    messages: sent,
                    ..Append::new(Kind::Compensated)
                };
                let record = Record::new(Kind::Compensated).step(step).state(state);
                if self.write(record, entry).await? {
                    return Ok(());
                }
                let why = self.refused.take().unwrap_or_default();
                Err((StepErrorKind::Transient, why))
            }
            Err(e) => Err(e),
        };
        match out {
            Ok(_) => {}
            Err((failure, message)) => {
                tracing::warn!(saga = %self.id(), step = %s.name, attempt, %message, "saga compensation failed");
                let entry = Append {
                    error: Some(format!("{}: {message}", failure.as_str())),
                    ..Append::new(Kind::CompensationFailed)
                };
                self.write(Record::new(Kind::CompensationFailed).step(step), entry)
                    .await?;
            }
        }
        Ok(())
    }

    /// Runs an action or compensation on `state` under its time limit (as
    /// a ballast deadline too, so the calls it makes see it) in a task of
    /// its own, turning a timeout into an unknown outcome and a panic into
    /// a pause. Dropping the returned future aborts the task; the buffer
    /// holds the messages the call sent.
    fn spawn_call(
        &self,
        f: &ErasedFn,
        state: Value,
        step: usize,
        attempt: u32,
        key: String,
        limit: Duration,
    ) -> (AbortOnDrop, Outgoing) {
        let sent = Outgoing::default();
        let call = Call {
            state,
            saga_id: self.id(),
            step: self.def.steps[step].name.clone(),
            attempt,
            key,
            outgoing: sent.clone(),
        };
        let fut = AssertUnwindSafe(f(call)).catch_unwind();
        let scoped = ballast_deadline::Deadline::after(limit).scope(fut);
        let task = AbortOnDrop(tokio::spawn(async move {
            match tokio::time::timeout(limit, scoped).await {
                Err(_) => Err((StepErrorKind::Unknown, format!("timed out after {limit:?}"))),
                Ok(Err(_)) => Err((StepErrorKind::Pause, "the step panicked".into())),
                Ok(Ok(Ok(state))) => Ok(state),
                Ok(Ok(Err(e))) => {
                    let e: StepError = e;
                    Err((e.kind(), e.message().to_owned()))
                }
            }
        }));
        (task, sent)
    }
}

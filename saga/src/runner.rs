//! One saga's task: rebuild its position from the log, then ask the plan
//! what to do next and do it, writing each transition ahead (the
//! `step_started` entry is durable before the action runs). Every append is
//! fenced by the lease's epoch; a fenced runner stops at once.

use crate::definition::{Call, Erased, ErasedFn};
use crate::executor::Inner;
use crate::operator::Decision;
use crate::plan::{Failure, Next, Position, Record, Shape, Why, decide};
use crate::saga::{Kind, LogEntry, Status};
use crate::step::StepError;
use crate::store::{Append, Appended, Lease, now_ms};
use crate::{Error, SagaId};
use futures::FutureExt;
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

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
}

/// Runs the saga under `lease` until it ends or this executor loses it.
pub(crate) async fn run(inner: &Inner, lease: Lease) {
    let id = lease.id;
    let loaded = loop {
        match inner.store.load(id).await {
            Ok(Some(l)) => break l,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(saga = %id, error = %e, "saga: loading failed; trying again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
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
        pos: Position::replay(def.steps.len(), &records),
        def,
        shape,
        cancel: loaded.cancel_requested,
        deadline_ms: loaded.deadline_ms,
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
                    .and_then(|(class, _)| Failure::parse(class)),
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
    let c = &inner.config;
    let mut wait = Duration::from_millis(50);
    loop {
        match inner
            .store
            .append(lease, &c.owner, c.lease, entry.clone())
            .await
        {
            Ok(a) => return Ok(a),
            Err(Error::Fenced(_)) => {
                tracing::info!(saga = %lease.id, epoch = lease.epoch, "saga taken over; stopping");
                return Err(Stop);
            }
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
            Appended::Written { cancel_requested } => self.cancel |= cancel_requested,
        }
        self.pos.apply(&record);
        tracing::debug!(saga = %self.id(), kind = kind.as_str(), step = ?step, "saga log");
        #[cfg(feature = "crash-hooks")]
        self.crash(crate::crash::Boundary::AfterAppend(kind, step))?;
        #[cfg(not(feature = "crash-hooks"))]
        let _ = (kind, step);
        Ok(true)
    }

    async fn drive(&mut self) -> Result<(), Stop> {
        loop {
            let next = decide(
                &self.shape,
                &self.pos,
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
                } => self.run_step(step, attempt, retry).await?,
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
                    let reason = format!(
                        "step {:?} failed after the pivot and cannot be compensated",
                        self.name(step)
                    );
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

    async fn run_step(&mut self, step: usize, attempt: u32, retry: u32) -> Result<(), Stop> {
        let def = self.def.clone();
        let s = &def.steps[step];
        if retry > 0 {
            self.or_stop(tokio::time::sleep(s.retry.backoff().capped(retry - 1)))
                .await?;
        }
        let gate = self.shape.pivot.is_none_or(|p| step <= p);
        let entry = Append {
            gate,
            pivot: self.shape.pivot == Some(step),
            ..Append::new(Kind::StepStarted)
        };
        if !self
            .write(Record::new(Kind::StepStarted).step(step), entry)
            .await?
        {
            return Ok(()); // cancelled: the plan compensates
        }
        #[cfg(feature = "crash-hooks")]
        self.crash(crate::crash::Boundary::BeforeAction(self.name(step)))?;
        let key = format!("{}/{}", self.id(), s.name);
        let out = self
            .or_stop(self.call(&s.action, step, attempt, key, self.attempt_time(step)))
            .await?;
        #[cfg(feature = "crash-hooks")]
        self.crash(crate::crash::Boundary::AfterAction(self.name(step)))?;
        let record = match out {
            Ok(state) => Record::new(Kind::StepSucceeded).step(step).state(state),
            Err((failure, message)) => {
                tracing::info!(saga = %self.id(), step = %s.name, attempt, %message, "saga step failed");
                let record = Record::new(Kind::StepFailed).step(step).failure(failure);
                let entry = Append {
                    error: Some(format!("{}: {message}", failure.as_str())),
                    ..Append::new(Kind::StepFailed)
                };
                self.write(record, entry).await?;
                if let Failure::Step(crate::StepErrorKind::Pause) = failure {
                    let reason = format!("step {:?} asked for an operator: {message}", s.name);
                    self.end(Kind::Paused, Status::Paused, Some(reason)).await?;
                }
                return Ok(());
            }
        };
        self.write(record, Append::new(Kind::StepSucceeded)).await?;
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
        let out = self
            .or_stop(self.call(compensation, step, attempt, key, s.timeout))
            .await?;
        #[cfg(feature = "crash-hooks")]
        self.crash(crate::crash::Boundary::AfterCompensation(self.name(step)))?;
        match out {
            Ok(state) => {
                self.write(
                    Record::new(Kind::Compensated).step(step).state(state),
                    Append::new(Kind::Compensated),
                )
                .await?;
            }
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

    /// Runs an action or compensation under its time limit (as a ballast
    /// deadline too, so the calls it makes see it), turning a timeout into
    /// an unknown outcome and a panic into a pause.
    async fn call(
        &self,
        f: &ErasedFn,
        step: usize,
        attempt: u32,
        key: String,
        limit: Duration,
    ) -> Result<Value, (Failure, String)> {
        let call = Call {
            state: self.pos.state.clone(),
            saga_id: self.id(),
            step: self.def.steps[step].name.clone(),
            attempt,
            key,
        };
        let fut = AssertUnwindSafe(f(call)).catch_unwind();
        let scoped = ballast_deadline::Deadline::after(limit).scope(fut);
        match tokio::time::timeout(limit, scoped).await {
            Err(_) => Err((Failure::Unknown, format!("timed out after {limit:?}"))),
            Ok(Err(_)) => Err((
                Failure::Step(crate::StepErrorKind::Pause),
                "the step panicked".into(),
            )),
            Ok(Ok(Ok(state))) => Ok(state),
            Ok(Ok(Err(e))) => {
                let e: StepError = e;
                Err((Failure::Step(e.kind()), e.message().to_owned()))
            }
        }
    }
}

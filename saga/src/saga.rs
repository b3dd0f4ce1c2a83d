//! A saga's identity, status and log as callers read them.

use serde_json::Value;
use std::fmt;
use uuid::Uuid;

/// A saga instance's id (a time-ordered UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SagaId(pub Uuid);

impl SagaId {
    pub(crate) fn new() -> Self {
        SagaId(Uuid::now_v7())
    }
}

impl fmt::Display for SagaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a saga is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Running its steps forward.
    Running,
    /// Undoing its completed steps.
    Compensating,
    /// Every step succeeded.
    Completed,
    /// Every completed step was compensated.
    Compensated,
    /// A compensation kept failing past the limit: an operator must act.
    Stuck,
    /// Stopped for an operator (a step asked for it, or the saga's version
    /// is not registered in the executor that found it).
    Paused,
    /// Ended by an operator's abort, from stuck or paused: nothing more
    /// runs or is undone; what its steps did and undid is in its log.
    Aborted,
}

impl Status {
    /// The name stored in the `sagas` table.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Compensating => "compensating",
            Status::Completed => "completed",
            Status::Compensated => "compensated",
            Status::Stuck => "stuck",
            Status::Paused => "paused",
            Status::Aborted => "aborted",
        }
    }

    /// Reads a stored name back (`"stuck"` is [`Status::Stuck`]).
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "running" => Status::Running,
            "compensating" => Status::Compensating,
            "completed" => Status::Completed,
            "compensated" => Status::Compensated,
            "stuck" => Status::Stuck,
            "paused" => Status::Paused,
            "aborted" => Status::Aborted,
            _ => return None,
        })
    }

    /// Whether an executor drives it (running or compensating).
    pub fn is_active(self) -> bool {
        matches!(self, Status::Running | Status::Compensating)
    }

    /// Whether it ended for good (completed, compensated or aborted).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::Compensated | Status::Aborted
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The saga was started with its initial state.
    Started,
    /// An attempt of a step's action is about to run (written before it).
    StepStarted,
    /// A step's action succeeded, with the new state.
    StepSucceeded,
    /// An attempt of a step's action failed (or timed out: outcome unknown).
    StepFailed,
    /// The saga turned to compensating (with the reason, and the step whose
    /// unknown outcome is compensated too, if any).
    Compensating,
    /// An attempt of a step's compensation is about to run.
    CompensationStarted,
    /// A step's compensation succeeded, with the new state.
    Compensated,
    /// An attempt of a step's compensation failed.
    CompensationFailed,
    /// Every step succeeded.
    Completed,
    /// Every completed step was compensated.
    SagaCompensated,
    /// A compensation failed past the limit.
    Stuck,
    /// The saga was paused for an operator.
    Paused,
    /// An operator decided something about the saga.
    OperatorDecision,
}

impl Kind {
    /// The name stored in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Started => "started",
            Kind::StepStarted => "step_started",
            Kind::StepSucceeded => "step_succeeded",
            Kind::StepFailed => "step_failed",
            Kind::Compensating => "compensating",
            Kind::CompensationStarted => "compensation_started",
            Kind::Compensated => "compensated",
            Kind::CompensationFailed => "compensation_failed",
            Kind::Completed => "completed",
            Kind::SagaCompensated => "saga_compensated",
            Kind::Stuck => "stuck",
            Kind::Paused => "paused",
            Kind::OperatorDecision => "operator_decision",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Kind> {
        use Kind::*;
        [
            Started,
            StepStarted,
            StepSucceeded,
            StepFailed,
            Compensating,
            CompensationStarted,
            Compensated,
            CompensationFailed,
            Completed,
            SagaCompensated,
            Stuck,
            Paused,
            OperatorDecision,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One entry of a saga's log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Its place in the saga's log, from 1.
    pub n: i64,
    /// What it records.
    pub kind: Kind,
    /// The step it is about, if any.
    pub step: Option<String>,
    /// The state after the transition, where it changed.
    pub state: Option<Value>,
    /// The failure or reason, where there is one.
    pub error: Option<String>,
    /// The lease epoch it was written under.
    pub epoch: i64,
    /// When (Unix milliseconds).
    pub at_ms: i64,
}

/// A saga as its row says now.
#[derive(Debug, Clone, PartialEq)]
pub struct SagaInfo {
    /// The saga.
    pub id: SagaId,
    /// Its definition's name.
    pub name: String,
    /// The definition version it runs on.
    pub version: u32,
    /// Where it is.
    pub status: Status,
    /// Its state after the last transition.
    pub state: Value,
    /// Why it is paused or stuck, or why it compensated.
    pub reason: Option<String>,
}

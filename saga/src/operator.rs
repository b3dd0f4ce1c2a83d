//! What operators do about sagas no executor can finish alone: list them
//! by status, read a saga's history, and decide about a stuck or paused
//! one ([`Decision`]) through an [`Operator`] handle.
//!
//! A decision is one fenced transaction: it changes the saga's row only
//! if the saga is still in a status the decision applies to, bumps the
//! saga's epoch and leaves it unowned, and appends an `operator_decision`
//! entry (under the new epoch) naming the operator and the decision. A
//! stuck or paused saga has no live task (executors only drive running and
//! compensating sagas), and the bumped epoch fences any task that still
//! held it; a decision that makes the saga active again leaves it for the
//! next claim of any executor, which takes it at a newer epoch still: at
//! once by the executor whose [`Operator`] made the decision (it is woken),
//! at their next tick by executors in other processes. Two
//! operators deciding at once: the second finds the status changed and is
//! refused ([`DecisionError::WrongStatus`]).

use crate::store::Store;
use crate::{Config, Database, DecisionError, Error, LogEntry, SagaId, SagaInfo, Status};
use std::fmt;
use std::sync::Arc;

/// What an operator decides about a saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// A stuck saga compensates again: the compensation that kept failing
    /// gets its attempts afresh (after the service it calls was fixed).
    RetryCompensation,
    /// A stuck saga ends [`Status::Compensated`]: the operator undid the
    /// rest by hand. Nothing more runs.
    MarkCompensated,
    /// A stuck or paused saga ends [`Status::Aborted`]: nothing more runs
    /// or is undone; what its steps did and undid is in its log.
    Abort,
    /// A paused saga goes on where it paused (running, or compensating if
    /// it was): the step that paused runs again with the same idempotency
    /// key. For a saga paused because its version was not registered,
    /// register it first.
    Resume,
}

impl Decision {
    /// Every decision.
    pub const ALL: [Decision; 4] = [
        Decision::RetryCompensation,
        Decision::MarkCompensated,
        Decision::Abort,
        Decision::Resume,
    ];

    /// Its name in the log and in the axum routes.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::RetryCompensation => "retry_compensation",
            Decision::MarkCompensated => "mark_compensated",
            Decision::Abort => "abort",
            Decision::Resume => "resume",
        }
    }

    /// Reads a name back.
    pub fn parse(s: &str) -> Option<Decision> {
        Decision::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The statuses a saga must be in for this decision to apply.
    pub fn applies_to(self) -> &'static [Status] {
        match self {
            Decision::RetryCompensation | Decision::MarkCompensated => &[Status::Stuck],
            Decision::Abort => &[Status::Stuck, Status::Paused],
            Decision::Resume => &[Status::Paused],
        }
    }

    /// The log entry's text: `"{decision} by {operator}"`.
    pub(crate) fn entry(self, operator: &str) -> String {
        format!("{} by {operator}", self.as_str())
    }

    /// The decision an `operator_decision` entry records.
    pub(crate) fn from_entry(text: &str) -> Option<Decision> {
        Decision::parse(text.split_once(" by ")?.0)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operators' handle over a saga store: reads sagas and writes
/// decisions. It runs no saga, so an admin service can open one with no
/// definitions ([`Operator::open`]); an executor gives one over its own
/// store ([`ExecutorHandle::operator`](crate::ExecutorHandle::operator)).
/// Clones share the store.
#[derive(Clone)]
pub struct Operator {
    store: Arc<dyn Store>,
    /// The executor in this process to wake when a decision sets a saga
    /// going again (one from [`ExecutorHandle::operator`](crate::ExecutorHandle::operator)).
    wake: Option<Arc<tokio::sync::Notify>>,
}

impl fmt::Debug for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operator").finish_non_exhaustive()
    }
}

impl Operator {
    /// An operator over the saga tables `config` names in `database`
    /// (created or migrated if needed). Only the table settings of
    /// `config` matter here.
    pub async fn open(database: impl Into<Database>, config: &Config) -> Result<Operator, Error> {
        Ok(Operator {
            store: database.into().open(config, None).await?,
            wake: None,
        })
    }

    pub(crate) fn over(store: Arc<dyn Store>, wake: Arc<tokio::sync::Notify>) -> Operator {
        Operator {
            store,
            wake: Some(wake),
        }
    }

    /// Up to `limit` sagas in `status`, oldest first.
    pub async fn list(&self, status: Status, limit: u32) -> Result<Vec<SagaInfo>, Error> {
        self.store.list(status, limit).await
    }

    /// The saga as its row says now.
    pub async fn saga(&self, id: SagaId) -> Result<SagaInfo, Error> {
        match self.store.load(id).await? {
            Some(l) => Ok(l.info),
            None => Err(Error::NotFound(id)),
        }
    }

    /// The saga's whole log, oldest first, operators' decisions included.
    pub async fn history(&self, id: SagaId) -> Result<Vec<LogEntry>, Error> {
        match self.store.load(id).await? {
            Some(l) => Ok(l.log),
            None => Err(Error::NotFound(id)),
        }
    }

    /// Makes `decision` about the saga as `operator` (a name for the log,
    /// not blank), if the saga is in a status it applies to.
    pub async fn decide(
        &self,
        id: SagaId,
        decision: Decision,
        operator: &str,
    ) -> Result<(), DecisionError> {
        let operator = operator.trim();
        if operator.is_empty() {
            return Err(DecisionError::BlankOperator);
        }
        self.store.decide(id, decision, operator).await?;
        tracing::info!(saga = %id, decision = decision.as_str(), operator, "saga: operator decision");
        // A saga set going again is claimed by this process's executor at
        // once; executors in other processes find it at their next tick.
        if let (Decision::RetryCompensation | Decision::Resume, Some(wake)) = (decision, &self.wake)
        {
            wake.notify_one();
        }
        Ok(())
    }

    /// A stuck saga compensates again ([`Decision::RetryCompensation`]).
    pub async fn retry_compensation(
        &self,
        id: SagaId,
        operator: &str,
    ) -> Result<(), DecisionError> {
        self.decide(id, Decision::RetryCompensation, operator).await
    }

    /// A stuck saga ends compensated by hand ([`Decision::MarkCompensated`]).
    pub async fn mark_compensated(&self, id: SagaId, operator: &str) -> Result<(), DecisionError> {
        self.decide(id, Decision::MarkCompensated, operator).await
    }

    /// A stuck or paused saga ends aborted ([`Decision::Abort`]).
    pub async fn abort(&self, id: SagaId, operator: &str) -> Result<(), DecisionError> {
        self.decide(id, Decision::Abort, operator).await
    }

    /// A paused saga goes on ([`Decision::Resume`]).
    pub async fn resume(&self, id: SagaId, operator: &str) -> Result<(), DecisionError> {
        self.decide(id, Decision::Resume, operator).await
    }
}

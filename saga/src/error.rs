//! The crate's errors: one type per question a caller asks.

use crate::{SagaId, Status};
use ballast_core::ConfigError;
use std::fmt;

/// Why [`DefinitionBuilder::build`](crate::DefinitionBuilder::build)
/// refused a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefinitionError {
    /// The name is empty.
    EmptyName,
    /// A saga needs at least one step.
    NoSteps,
    /// Two steps share a name; idempotency keys and the log name steps, so
    /// names must be unique.
    DuplicateStep(String),
    /// A second step was marked the pivot.
    TwoPivots {
        /// The pivot marked first.
        first: String,
        /// The step that was marked again.
        second: String,
    },
    /// A step before the pivot (or any step, when there is no pivot) has no
    /// compensation, so a failure after it could not be undone.
    MissingCompensation(String),
    /// A step's unknown outcome is to be compensated, but it has no
    /// compensation.
    CompensateWithoutCompensation(String),
    /// A parallel group has no steps.
    EmptyGroup,
    /// The pivot is inside a parallel group: a group's steps are undone
    /// together when one fails, and the pivot is what cannot be undone.
    PivotInGroup(String),
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefinitionError::EmptyName => write!(f, "a saga definition needs a name"),
            DefinitionError::NoSteps => write!(f, "a saga definition needs at least one step"),
            DefinitionError::DuplicateStep(s) => write!(f, "two steps are named {s:?}"),
            DefinitionError::TwoPivots { first, second } => write!(
                f,
                "steps {first:?} and {second:?} are both marked the pivot; a saga has at most one"
            ),
            DefinitionError::MissingCompensation(s) => write!(
                f,
                "step {s:?} comes before the pivot and has no compensation"
            ),
            DefinitionError::CompensateWithoutCompensation(s) => write!(
                f,
                "step {s:?} compensates an unknown outcome but has no compensation"
            ),
            DefinitionError::EmptyGroup => write!(f, "a parallel group needs at least one step"),
            DefinitionError::PivotInGroup(s) => write!(
                f,
                "step {s:?} is the pivot inside a parallel group; put the pivot on its own"
            ),
        }
    }
}

impl std::error::Error for DefinitionError {}

/// A failure of the executor or its database.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The database failed.
    Database(sqlx::Error),
    /// The saga tables are at a version this crate does not know.
    Schema(String),
    /// An invalid setting.
    Config(ConfigError),
    /// Two definitions with the same name and version were registered.
    DuplicateDefinition {
        /// The definition's name.
        name: String,
        /// Its version.
        version: u32,
    },
    /// The saga's lease was taken over by another executor (a newer
    /// epoch): nothing was written.
    Fenced(SagaId),
    /// No saga has this id.
    NotFound(SagaId),
    /// The executor is stopping: its log writer no longer takes appends.
    Stopped,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Database(e) => write!(f, "saga store: {e}"),
            Error::Schema(s) => write!(f, "saga tables: {s}"),
            Error::Config(e) => write!(f, "{e}"),
            Error::DuplicateDefinition { name, version } => {
                write!(f, "saga {name:?} version {version} is registered twice")
            }
            Error::Fenced(id) => write!(
                f,
                "saga {id} is owned by another executor now; nothing was written"
            ),
            Error::NotFound(id) => write!(f, "no saga {id}"),
            Error::Stopped => write!(f, "the saga executor is stopping"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Database(e) => Some(e),
            Error::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl Error {
    /// The saga's error for a failed run of its migrations.
    pub(crate) fn from_migration(e: ballast_outbox::Error) -> Self {
        match e {
            ballast_outbox::Error::Database(e) => Error::Database(e),
            other => Error::Schema(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

/// Why [`ExecutorHandle::start_saga`](crate::ExecutorHandle::start_saga)
/// refused to start a saga. Nothing was written.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// No definition with this name and version is registered.
    UnknownDefinition {
        /// The name asked for.
        name: String,
        /// The version asked for.
        version: u32,
    },
    /// The definition's state is of another type than the one given.
    WrongStateType {
        /// The definition's name.
        name: String,
        /// Its version.
        version: u32,
    },
    /// The initial state failed to serialise.
    State(serde_json::Error),
    /// The executor was shut down.
    ShutDown,
    /// The database failed.
    Store(Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::UnknownDefinition { name, version } => {
                write!(f, "no saga {name:?} version {version} is registered")
            }
            StartError::WrongStateType { name, version } => write!(
                f,
                "saga {name:?} version {version} takes another state type"
            ),
            StartError::State(e) => write!(f, "the initial state does not serialise: {e}"),
            StartError::ShutDown => write!(f, "the executor is shut down"),
            StartError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::State(e) => Some(e),
            StartError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// Why [`ExecutorHandle::cancel`](crate::ExecutorHandle::cancel) was
/// refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum CancelError {
    /// The pivot has started: the saga can only go forward.
    PastPivot(SagaId),
    /// The saga has already ended, or is not running (paused, stuck).
    NotRunning(SagaId, Status),
    /// No saga has this id.
    NotFound(SagaId),
    /// The database failed.
    Store(Error),
}

impl fmt::Display for CancelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelError::PastPivot(id) => {
                write!(f, "saga {id} has passed its pivot and can only go forward")
            }
            CancelError::NotRunning(id, s) => write!(f, "saga {id} is {s}, not running"),
            CancelError::NotFound(id) => write!(f, "no saga {id}"),
            CancelError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CancelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CancelError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// Why an operator's decision was refused. Nothing was written.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecisionError {
    /// The operator's name is blank; every decision names who made it.
    BlankOperator,
    /// No saga has this id.
    NotFound(SagaId),
    /// The saga is not in a status the decision applies to (see
    /// [`Decision::applies_to`](crate::Decision::applies_to)).
    WrongStatus {
        /// The saga.
        id: SagaId,
        /// Its status now.
        status: Status,
        /// The decision refused.
        decision: crate::Decision,
    },
    /// The database failed.
    Store(Error),
}

impl fmt::Display for DecisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecisionError::BlankOperator => write!(f, "a decision needs the operator's name"),
            DecisionError::NotFound(id) => write!(f, "no saga {id}"),
            DecisionError::WrongStatus {
                id,
                status,
                decision,
            } => write!(f, "saga {id} is {status}; {decision} does not apply"),
            DecisionError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DecisionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecisionError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for DecisionError {
    fn from(e: Error) -> Self {
        DecisionError::Store(e)
    }
}

impl From<sqlx::Error> for DecisionError {
    fn from(e: sqlx::Error) -> Self {
        DecisionError::Store(Error::Database(e))
    }
}

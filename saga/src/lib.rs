//! A durable saga orchestrator (work in progress).
#![warn(missing_docs)]
// Until the executor uses them (next commits).
#![allow(dead_code)]

mod definition;
mod error;
mod plan;
mod saga;
mod step;

pub use definition::{DEFAULT_STEP_TIMEOUT, Definition, DefinitionBuilder, Step};
pub use error::{CancelError, DefinitionError, Error, StartError};
pub use saga::{Kind, LogEntry, SagaId, SagaInfo, Status};
pub use step::{OnUnknown, StepContext, StepError, StepErrorKind};

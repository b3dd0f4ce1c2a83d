//! A durable saga orchestrator (work in progress).
#![warn(missing_docs)]
// Until the executor uses them (next commits).
#![allow(dead_code)]

mod config;
mod definition;
#[cfg(feature = "sqlite")]
mod embedded;
mod error;
mod plan;
mod saga;
mod schema;
#[cfg(feature = "sqlite")]
pub mod sqlite {
    //! SQLite, the embedded default.
    pub use crate::embedded::connect;
}
mod step;
mod store;

pub use config::{Config, ConfigBuilder};
pub use definition::{DEFAULT_STEP_TIMEOUT, Definition, DefinitionBuilder, Step};
pub use error::{CancelError, DefinitionError, Error, StartError};
pub use saga::{Kind, LogEntry, SagaId, SagaInfo, Status};
pub use step::{OnUnknown, StepContext, StepError, StepErrorKind};

//! A durable saga orchestrator (work in progress).
#![warn(missing_docs)]

mod config;
#[cfg(feature = "crash-hooks")]
pub mod crash;
mod database;
mod definition;
#[cfg(feature = "sqlite")]
mod embedded;
mod error;
mod executor;
mod plan;
mod runner;
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
pub use database::Database;
pub use definition::{DEFAULT_STEP_TIMEOUT, Definition, DefinitionBuilder, Step};
pub use error::{CancelError, DefinitionError, Error, StartError};
pub use executor::{Executor, ExecutorBuilder, ExecutorHandle};
pub use saga::{Kind, LogEntry, SagaId, SagaInfo, Status};
pub use step::{OnUnknown, StepContext, StepError, StepErrorKind};

//! A transactional outbox for sqlx: a service writes its business change and
//! the messages that announce it in one transaction, and a relay publishes
//! them to a broker afterwards, at least once, in per-key commit order.
//!
//! (Crate docs: see the sections below; the runnable example opens this
//! page once the relay lands.)
#![warn(missing_docs)]

mod config;
#[cfg(feature = "sqlite")]
pub mod sqlite {
    //! SQLite, the embedded default.
    pub use crate::embedded::connect;
}
#[cfg(feature = "sqlite")]
mod embedded;
mod error;
mod message;
mod outbox;
mod partition;
pub mod publish;
mod relay;
mod schema;
mod store;

pub use config::{Config, ConfigBuilder, OnDeadLetter, RelayConfig, RelayConfigBuilder, Retention};
pub use error::{EnqueueError, Error, InvalidMessage};
pub use message::{Envelope, Message, header};
pub use outbox::Outbox;
pub use partition::partition_of;
pub use publish::{ChannelPublisher, PublishError, Publisher};
pub use relay::{Relay, RelayHandle, RelayStats};
pub use store::{Backend, Backlog, DeadLetter, Decision, PartitionBacklog};

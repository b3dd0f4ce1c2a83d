//! A transactional outbox for sqlx: a service writes its business change and
//! the messages that announce it in one transaction, and a relay publishes
//! them to a broker afterwards, at least once, in per-key commit order.
//!
//! (Crate docs: see the sections below; the runnable example opens this
//! page once the relay lands.)
#![warn(missing_docs)]

mod config;
mod error;
mod message;
mod partition;
mod schema;
pub mod publish;

pub use config::{Config, ConfigBuilder, OnDeadLetter, RelayConfig, RelayConfigBuilder, Retention};
pub use error::{EnqueueError, Error, InvalidMessage};
pub use message::{Envelope, Message, header};
pub use partition::partition_of;
pub use publish::{ChannelPublisher, PublishError, Publisher};

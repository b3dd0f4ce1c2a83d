//! A transactional outbox for sqlx: a service writes its business change and
//! the messages that announce it in one transaction, and a relay publishes
//! them to a broker afterwards, at least once, in per-key commit order.
//!
//! (Crate docs: see the sections below; the runnable example opens this
//! page once the relay lands.)
#![warn(missing_docs)]

mod config;
#[cfg(feature = "nats")]
pub mod consumer;
mod error;
pub mod inbox;
mod message;
mod partition;
pub mod publish;
mod schema;

pub use config::{Config, ConfigBuilder, OnDeadLetter, RelayConfig, RelayConfigBuilder, Retention};
pub use error::{EnqueueError, Error, InvalidMessage};
pub use inbox::{Inbox, InboxConfig, Processed};
pub use message::{Envelope, Message, header};
pub use partition::partition_of;
pub use publish::{ChannelPublisher, PublishError, Publisher};

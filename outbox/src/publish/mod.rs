//! The [`Publisher`] trait the relay sends through, and the publishers that
//! ship with the crate.
//!
//! - [`ChannelPublisher`]: an in-process channel, for tests and embedded use.
//! - `JetStreamPublisher` (feature `nats`): NATS JetStream, the message id in
//!   `Nats-Msg-Id` so the broker drops duplicates inside its window.
//! - `AmqpPublisher` (feature `amqp`): RabbitMQ with publisher confirms.

#[cfg(feature = "amqp")]
mod amqp;
mod channel;
#[cfg(feature = "nats")]
mod nats;

#[cfg(feature = "amqp")]
pub use amqp::AmqpPublisher;
pub use channel::{ChannelPublisher, Fail, Receiver};
#[cfg(feature = "nats")]
pub use nats::JetStreamPublisher;

use crate::Envelope;
use std::fmt;
use std::future::Future;

/// Sends one message to a broker and resolves once the broker has
/// acknowledged it (stored it), or failed.
///
/// The relay calls `publish` for several keys at once (one call in flight
/// per key, so a publisher may pipeline over one connection) and awaits
/// each result before sending the next message of the same key. Resolve
/// `Ok` only when the broker has taken responsibility for the message: the
/// relay deletes the row after that.
pub trait Publisher: Send + Sync + 'static {
    /// Publishes `envelope`, waiting for the broker's acknowledgement.
    fn publish(&self, envelope: &Envelope)
    -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// Why a publish failed. The difference matters: only
/// [`PublishError::Refused`] counts toward a message's attempts (and its
/// dead-lettering); an outage must not dead-letter everything.
#[derive(Debug)]
pub enum PublishError {
    /// The broker answered and refused this message (no stream for the
    /// subject, too large, a nack). Counts as an attempt of this message.
    Refused(String),
    /// The broker could not be reached or did not answer (connection lost,
    /// timeout, outage). Does not count against the message; the relay's
    /// retry and circuit breaker wait it out.
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
}

impl PublishError {
    /// An outage from any error.
    pub fn unavailable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        PublishError::Unavailable(e.into())
    }

    /// A refusal of this message by the broker, with its reason.
    pub fn refused(reason: impl Into<String>) -> Self {
        PublishError::Refused(reason.into())
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Refused(r) => write!(f, "broker refused the message: {r}"),
            PublishError::Unavailable(e) => write!(f, "broker unavailable: {e}"),
        }
    }
}

impl std::error::Error for PublishError {}

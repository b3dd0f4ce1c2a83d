//! The crate's errors.

use ballast_core::ConfigError;
use std::fmt;

/// Why [`Outbox::enqueue`](crate::Outbox::enqueue) refused a message.
///
/// An invalid message is refused before anything is written, so the
/// caller's transaction is left exactly as it was and still usable.
#[derive(Debug)]
pub enum EnqueueError {
    /// The message breaks a configured limit; nothing was written.
    Invalid(InvalidMessage),
    /// The database failed the write. On PostgreSQL the caller's
    /// transaction is then aborted, as after any failed statement.
    Database(sqlx::Error),
}

/// A limit a message broke, with the numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidMessage {
    /// The topic is empty.
    EmptyTopic,
    /// The topic is longer than the limit (bytes).
    TopicTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The ordering key is longer than the limit (bytes).
    KeyTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The payload is larger than the limit (bytes).
    PayloadTooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The headers, names and values together, are larger than the limit.
    HeadersTooLarge {
        /// Their size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidMessage::EmptyTopic => write!(f, "empty topic"),
            InvalidMessage::TopicTooLong { len, max } => {
                write!(f, "topic of {len} bytes is over the limit of {max}")
            }
            InvalidMessage::KeyTooLong { len, max } => {
                write!(f, "key of {len} bytes is over the limit of {max}")
            }
            InvalidMessage::PayloadTooLarge { len, max } => {
                write!(f, "payload of {len} bytes is over the limit of {max}")
            }
            InvalidMessage::HeadersTooLarge { len, max } => {
                write!(f, "headers of {len} bytes are over the limit of {max}")
            }
        }
    }
}

impl std::error::Error for InvalidMessage {}

impl fmt::Display for EnqueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnqueueError::Invalid(why) => write!(f, "message refused: {why}"),
            EnqueueError::Database(e) => write!(f, "outbox write failed: {e}"),
        }
    }
}

impl std::error::Error for EnqueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EnqueueError::Invalid(why) => Some(why),
            EnqueueError::Database(e) => Some(e),
        }
    }
}

impl From<sqlx::Error> for EnqueueError {
    fn from(e: sqlx::Error) -> Self {
        EnqueueError::Database(e)
    }
}

/// An error of the outbox's own operations (setup, the relay, operators'
/// dead-letter actions).
#[derive(Debug)]
pub enum Error {
    /// A setting was invalid.
    Config(ConfigError),
    /// The database failed.
    Database(sqlx::Error),
    /// The tables exist but do not match this configuration or crate
    /// version (for example another partition count); nothing was changed.
    Schema(String),
    /// The relay no longer holds the partition's lease: another relay took
    /// it over, and this one wrote nothing.
    Fenced {
        /// The partition.
        partition: u32,
        /// The epoch this relay held.
        epoch: i64,
    },
    /// No dead letter has this id.
    NotFound(uuid::Uuid),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Database(e) => write!(f, "outbox database error: {e}"),
            Error::Schema(why) => write!(f, "outbox schema mismatch: {why}"),
            Error::Fenced { partition, epoch } => write!(
                f,
                "lease of partition {partition} (epoch {epoch}) was taken over; nothing written"
            ),
            Error::NotFound(id) => write!(f, "no dead letter with id {id}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => Some(e),
            Error::Database(e) => Some(e),
            _ => None,
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

//! [`InboxError`]: why [`Inbox::process`](super::Inbox::process) did not
//! complete.

use std::fmt;

/// Why [`Inbox::process`](super::Inbox::process) did not complete. In
/// every case the caller should roll the transaction back (dropping it
/// does): the id is then not recorded and a redelivery is handled afresh.
#[derive(Debug)]
pub enum InboxError<E> {
    /// The handler failed; its error, untouched.
    Handler(E),
    /// Recording the id failed (on PostgreSQL the transaction is then
    /// aborted).
    Database(sqlx::Error),
    /// The message id is empty or longer than 255 bytes; nothing was written.
    InvalidId {
        /// Its length in bytes.
        len: usize,
    },
}

impl<E: fmt::Display> fmt::Display for InboxError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InboxError::Handler(e) => write!(f, "message handler failed: {e}"),
            InboxError::Database(e) => write!(f, "inbox database error: {e}"),
            InboxError::InvalidId { len } => {
                write!(f, "message id of {len} bytes; must be 1 to 255")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for InboxError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InboxError::Handler(e) => Some(e),
            InboxError::Database(e) => Some(e),
            InboxError::InvalidId { .. } => None,
        }
    }
}

//! The inbox: a consumer's record of the message ids it has handled, so a
//! message delivered twice is handled once.
//!
//! Brokers deliver at least once, and the outbox's relay publishes at least
//! once, so a consumer sees some messages twice. [`Inbox::process`] runs the
//! consumer's handler inside the consumer's own transaction after
//! recording the message id in the same transaction: the id and the
//! handler's writes commit together or not at all, and a second delivery
//! of the id finds it recorded and skips the handler
//! ([`Processed::Duplicate`]).
//!
//! ```
//! use ballast_outbox::inbox::{Inbox, InboxConfig, Processed};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
//! let inbox = Inbox::new(pool.clone(), InboxConfig::default()).await?;
//!
//! for _delivery in 0..2 {
//!     let mut tx = ballast_outbox::begin(&pool).await?;
//!     let outcome = inbox
//!         .process(&mut tx, "msg-1", |_tx| async { Ok::<_, sqlx::Error>("handled") })
//!         .await?;
//!     tx.commit().await?;
//!     println!("{outcome:?}"); // Done("handled"), then Duplicate
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Module map: `config` (the table's name and schema), `backend` (the SQL
//! of each database), `process` (the [`Inbox`] itself), `error`.

mod backend;
mod config;
mod error;
mod process;

pub use backend::InboxDatabase;
pub use config::{InboxConfig, InboxConfigBuilder};
pub use error::InboxError;
pub use process::{Inbox, Processed};

//! The database an executor keeps its saga log in.

use crate::store::Store;
use crate::{Config, Error};
use std::sync::Arc;

/// A connection pool to the database holding the saga log: SQLite (the
/// embedded default, see [`sqlite::connect`](crate::sqlite::connect)) or
/// PostgreSQL. Made with `From` from either pool.
#[derive(Debug, Clone)]
pub struct Database(Pool);

#[derive(Debug, Clone)]
enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

#[cfg(feature = "sqlite")]
impl From<sqlx::SqlitePool> for Database {
    fn from(pool: sqlx::SqlitePool) -> Self {
        Database(Pool::Sqlite(pool))
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::PgPool> for Database {
    fn from(pool: sqlx::PgPool) -> Self {
        Database(Pool::Postgres(pool))
    }
}

/// The outbox a saga's steps send messages through
/// ([`StepContext::send`](crate::StepContext::send)), given to
/// [`ExecutorBuilder::outbox`](crate::ExecutorBuilder::outbox): a
/// `ballast_outbox::Outbox` opened on the same database as the saga log
/// (its messages are enqueued in the log's own transactions). Made with
/// `From` from an `Outbox<Sqlite>` or an `Outbox<Postgres>`.
#[derive(Debug, Clone)]
pub struct StepOutbox(OutboxOf);

#[derive(Debug, Clone)]
enum OutboxOf {
    #[cfg(feature = "sqlite")]
    Sqlite(ballast_outbox::Outbox<sqlx::Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(ballast_outbox::Outbox<sqlx::Postgres>),
}

#[cfg(feature = "sqlite")]
impl From<ballast_outbox::Outbox<sqlx::Sqlite>> for StepOutbox {
    fn from(outbox: ballast_outbox::Outbox<sqlx::Sqlite>) -> Self {
        StepOutbox(OutboxOf::Sqlite(outbox))
    }
}

#[cfg(feature = "postgres")]
impl From<ballast_outbox::Outbox<sqlx::Postgres>> for StepOutbox {
    fn from(outbox: ballast_outbox::Outbox<sqlx::Postgres>) -> Self {
        StepOutbox(OutboxOf::Postgres(outbox))
    }
}

impl Database {
    /// Opens the store, creating or migrating its tables; messages steps
    /// send go to `outbox`, which must be on the same kind of database.
    pub(crate) async fn open(
        self,
        config: &Config,
        outbox: Option<StepOutbox>,
    ) -> Result<Arc<dyn Store>, Error> {
        let mismatch = || {
            Error::Config(ballast_core::ConfigError::new(
                "saga executor",
                "outbox",
                "the outbox must be on the saga log's database",
            ))
        };
        Ok(match self.0 {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => {
                let store = crate::store::sqlite::SqliteStore::open(p, config).await?;
                Arc::new(match outbox.map(|o| o.0) {
                    None => store,
                    Some(OutboxOf::Sqlite(o)) => store.with_outbox(o),
                    #[allow(unreachable_patterns)]
                    Some(_) => return Err(mismatch()),
                })
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => {
                let store = crate::store::postgres::PgStore::open(p, config).await?;
                Arc::new(match outbox.map(|o| o.0) {
                    None => store,
                    Some(OutboxOf::Postgres(o)) => store.with_outbox(o),
                    #[allow(unreachable_patterns)]
                    Some(_) => return Err(mismatch()),
                })
            }
        })
    }
}

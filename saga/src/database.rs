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

impl Database {
    /// Opens the store, creating or migrating its tables.
    pub(crate) async fn open(self, config: &Config) -> Result<Arc<dyn Store>, Error> {
        Ok(match self.0 {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => Arc::new(crate::store::sqlite::SqliteStore::open(p, config).await?),
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => Arc::new(crate::store::postgres::PgStore::open(p, config).await?),
        })
    }
}

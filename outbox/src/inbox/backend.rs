//! [`InboxDatabase`]: the SQL of the inbox on each database the crate
//! supports. The statements are the same but for timestamps and
//! placeholders.

use super::InboxConfig;
use crate::Error;
#[cfg(feature = "sqlite")]
use ballast_core::ConfigError;
use sqlx::{Database, Pool};
use std::future::Future;
use std::time::Duration;

mod sealed {
    pub trait Sealed {}
}

/// A database the [`Inbox`](super::Inbox) runs on: `sqlx::Postgres` or
/// `sqlx::Sqlite`. Sealed; its methods are the inbox's own.
pub trait InboxDatabase: Database + sealed::Sealed {
    /// Creates the inbox table if missing (migrations recorded in
    /// `<table>_version`).
    #[doc(hidden)]
    fn migrate(pool: &Pool<Self>, config: &InboxConfig) -> impl Future<Output = Result<(), Error>>;

    /// Records `id`; `false` when it was already recorded. On PostgreSQL,
    /// waits for a concurrent transaction that recorded the same id to end.
    #[doc(hidden)]
    fn record<'a>(
        conn: &'a mut Self::Connection,
        table: &'a str,
        id: &'a str,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'a;

    /// Deletes the ids recorded more than `age` ago; how many.
    #[doc(hidden)]
    fn purge<'a>(
        pool: &'a Pool<Self>,
        table: &'a str,
        age: Duration,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a;
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use sqlx::{PgConnection, Postgres};

    impl sealed::Sealed for Postgres {}

    impl InboxDatabase for Postgres {
        async fn migrate(pool: &Pool<Postgres>, config: &InboxConfig) -> Result<(), Error> {
            if let Some(schema) = &config.schema {
                sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                    .execute(pool)
                    .await?;
            }
            let table = config.qualified();
            let index = format!("{}_received_at", config.table);
            let steps = [format!(
                "CREATE TABLE IF NOT EXISTS {table} (id text PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now());\n\
                 CREATE INDEX IF NOT EXISTS {index} ON {table} (received_at);"
            )];
            crate::migrations::postgres(pool, &format!("{table}_version"), &steps).await
        }

        async fn record<'a>(
            conn: &'a mut PgConnection,
            table: &'a str,
            id: &'a str,
        ) -> Result<bool, sqlx::Error> {
            let sql = format!("INSERT INTO {table} (id) VALUES ($1) ON CONFLICT DO NOTHING");
            let done = sqlx::query(&sql).bind(id).execute(conn).await?;
            Ok(done.rows_affected() == 1)
        }

        async fn purge<'a>(
            pool: &'a Pool<Postgres>,
            table: &'a str,
            age: Duration,
        ) -> Result<u64, sqlx::Error> {
            let sql = format!(
                "DELETE FROM {table} WHERE received_at < now() - make_interval(secs => $1)"
            );
            let done = sqlx::query(&sql)
                .bind(age.as_secs_f64())
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use sqlx::{Sqlite, SqliteConnection};

    /// Now, in milliseconds since the Unix epoch, by SQLite's clock.
    const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

    impl sealed::Sealed for Sqlite {}

    impl InboxDatabase for Sqlite {
        async fn migrate(pool: &Pool<Sqlite>, config: &InboxConfig) -> Result<(), Error> {
            if config.schema.is_some() {
                return Err(Error::Config(ConfigError::new(
                    "inbox",
                    "schema",
                    "SQLite has no schemas; leave it unset",
                )));
            }
            let table = &config.table;
            let steps = [format!(
                "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL DEFAULT ({NOW_MS}));\n\
                 CREATE INDEX IF NOT EXISTS {table}_received_at ON {table} (received_at);"
            )];
            crate::migrations::sqlite(pool, &format!("{table}_version"), &steps).await
        }

        async fn record<'a>(
            conn: &'a mut SqliteConnection,
            table: &'a str,
            id: &'a str,
        ) -> Result<bool, sqlx::Error> {
            let sql = format!("INSERT INTO {table} (id) VALUES (?) ON CONFLICT DO NOTHING");
            let done = sqlx::query(&sql).bind(id).execute(conn).await?;
            Ok(done.rows_affected() == 1)
        }

        async fn purge<'a>(
            pool: &'a Pool<Sqlite>,
            table: &'a str,
            age: Duration,
        ) -> Result<u64, sqlx::Error> {
            let sql = format!("DELETE FROM {table} WHERE received_at < {NOW_MS} - ?");
            let age_ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
            let done = sqlx::query(&sql).bind(age_ms).execute(pool).await?;
            Ok(done.rows_affected())
        }
    }
}

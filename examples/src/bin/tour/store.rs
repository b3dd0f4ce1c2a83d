//! The tour's database, chosen at start: SQLite in a temporary directory,
//! or a schema of its own in PostgreSQL, made for the run and dropped at
//! its end. The saga log, the outbox, the inbox and the consumer's table
//! all live in it; the few queries whose SQL differs sit side by side.

use crate::events::OUTBOX_TABLE;
use ballast::prelude::BoxError;
use ballast_outbox::{Backlog, Outbox};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};

/// The store and the outbox opened on it.
pub enum Store {
    /// SQLite, one file in a temporary directory.
    Sqlite {
        pool: SqlitePool,
        outbox: Outbox<Sqlite>,
    },
    /// PostgreSQL, every table in `schema`; the pool's connections find
    /// them there without a prefix (their `search_path`).
    Pg {
        pool: PgPool,
        outbox: Outbox<Postgres>,
        schema: String,
    },
}

impl Store {
    /// Opens the SQLite database at `path`.
    pub async fn sqlite(path: &std::path::Path) -> Result<Store, BoxError> {
        let pool = ballast_outbox::sqlite::connect(path).await?;
        let outbox = Outbox::new(pool.clone(), outbox_config(None)?).await?;
        Ok(Store::Sqlite { pool, outbox })
    }

    /// Connects to PostgreSQL at `url` and creates `schema`, where the
    /// run's tables go.
    pub async fn postgres(url: &str, schema: &str) -> Result<Store, BoxError> {
        let search_path = format!("SET search_path TO {schema}");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(32)
            .after_connect(move |conn, _| {
                let sql = search_path.clone();
                Box::pin(async move {
                    sqlx::Executor::execute(conn, sql.as_str()).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await?;
        let outbox = match Outbox::new(pool.clone(), outbox_config(Some(schema))?).await {
            Ok(outbox) => outbox,
            Err(e) => {
                let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&pool)
                    .await;
                return Err(e.into());
            }
        };
        Ok(Store::Pg {
            pool,
            outbox,
            schema: schema.to_owned(),
        })
    }

    /// The schema the run's tables are in (PostgreSQL only).
    pub fn schema(&self) -> Option<&str> {
        match self {
            Store::Sqlite { .. } => None,
            Store::Pg { schema, .. } => Some(schema),
        }
    }

    /// The pool as the saga executor takes it, with the outbox its steps
    /// send through.
    pub fn saga_database(&self) -> (ballast_saga::Database, ballast_saga::StepOutbox) {
        match self {
            Store::Sqlite { pool, outbox } => (pool.clone().into(), outbox.clone().into()),
            Store::Pg { pool, outbox, .. } => (pool.clone().into(), outbox.clone().into()),
        }
    }

    /// Runs `sql`, which makes no rows (a `CREATE TABLE`).
    pub async fn execute(&self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Store::Sqlite { pool, .. } => sqlx::query(sql).execute(pool).await.map(drop),
            Store::Pg { pool, .. } => sqlx::query(sql).execute(pool).await.map(drop),
        }
    }

    /// The one number `sql` (a `SELECT count(..)`) answers.
    pub async fn count(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let (n,): (i64,) = match self {
            Store::Sqlite { pool, .. } => sqlx::query_as(sql).fetch_one(pool).await?,
            Store::Pg { pool, .. } => sqlx::query_as(sql).fetch_one(pool).await?,
        };
        Ok(n as u64)
    }

    /// The sagas by status: (status, how many).
    pub async fn saga_statuses(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        let sql = "SELECT status, count(*) FROM tour_sagas GROUP BY status";
        match self {
            Store::Sqlite { pool, .. } => sqlx::query_as(sql).fetch_all(pool).await,
            Store::Pg { pool, .. } => sqlx::query_as(sql).fetch_all(pool).await,
        }
    }

    /// Each saga: its id's 16 bytes, its status, and when its first log
    /// record was written (Unix milliseconds). The id is a BLOB in SQLite
    /// and a uuid in PostgreSQL.
    pub async fn sagas(&self) -> Result<Vec<(Vec<u8>, String, i64)>, sqlx::Error> {
        let from = "FROM tour_sagas s JOIN tour_log l ON l.saga_id = s.id AND l.n = 1";
        match self {
            Store::Sqlite { pool, .. } => {
                sqlx::query_as(&format!("SELECT s.id, s.status, l.at {from}"))
                    .fetch_all(pool)
                    .await
            }
            Store::Pg { pool, .. } => {
                sqlx::query_as(&format!("SELECT uuid_send(s.id), s.status, l.at {from}"))
                    .fetch_all(pool)
                    .await
            }
        }
    }

    /// Messages waiting in the outbox, and its dead letters.
    pub async fn backlog(&self) -> Result<Backlog, ballast_outbox::Error> {
        match self {
            Store::Sqlite { outbox, .. } => outbox.backlog().await,
            Store::Pg { outbox, .. } => outbox.backlog().await,
        }
    }

    /// Drops the run's schema with every table in it (PostgreSQL); the
    /// SQLite file goes with its temporary directory.
    pub async fn drop_all(&self) -> Result<(), sqlx::Error> {
        if let Store::Pg { pool, schema, .. } = self {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(pool)
                .await?;
        }
        Ok(())
    }
}

/// The outbox's configuration, in `schema` on PostgreSQL (which also
/// names its wake-up channel, so runs side by side do not wake each other).
fn outbox_config(schema: Option<&str>) -> Result<ballast_outbox::Config, BoxError> {
    let mut b = ballast_outbox::Config::builder().table(OUTBOX_TABLE);
    if let Some(s) = schema {
        b = b.schema(s);
    }
    Ok(b.build()?)
}

//! Numbered migrations for a library's own tables: steps applied once each,
//! recorded in a version table of their own (never sqlx's
//! `_sqlx_migrations`, which belongs to the application's migrations),
//! under a lock so that processes starting together apply each step once.
//!
//! The outbox and ballast-saga make their tables with it; use it the same
//! way for tables of your own that must not mix with the application's
//! migration history. Steps are append-only: never edit a released step,
//! add a new one.

use crate::Error;
#[cfg(feature = "postgres")]
use sqlx::Postgres;
#[cfg(feature = "sqlite")]
use sqlx::Sqlite;
use sqlx::{Executor, Pool};

/// Applies `steps[i]` (the SQL of version `i + 1`, one or more statements)
/// that `version_table` does not yet record, in one transaction holding an
/// advisory lock named after the version table. Fails with
/// [`Error::Schema`] if the table records more versions than `steps` has
/// (older code on newer tables), changing nothing.
#[cfg(feature = "postgres")]
pub async fn postgres(
    pool: &Pool<Postgres>,
    version_table: &str,
    steps: &[String],
) -> Result<(), Error> {
    let mut tx = crate::begin(pool).await?;
    // A transaction-scoped lock: two processes migrating at once take turns;
    // released at commit or rollback.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(version_table)
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {version_table} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    ))
    .execute(&mut *tx)
    .await?;
    let current: Option<i32> =
        sqlx::query_scalar(&format!("SELECT max(version) FROM {version_table}"))
            .fetch_one(&mut *tx)
            .await?;
    let current = known(version_table, current.map(i64::from), steps.len())?;
    for (i, step) in steps.iter().enumerate().skip(current) {
        // Called on the executor: `raw_sql(step).execute(&mut *tx)` makes a
        // future rustc cannot prove Send, so no caller could be spawned.
        (&mut *tx).execute(sqlx::raw_sql(step)).await?;
        sqlx::query(&format!(
            "INSERT INTO {version_table} (version) VALUES ($1)"
        ))
        .bind((i + 1) as i32)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// [`postgres`] for SQLite: `BEGIN IMMEDIATE` takes the database's
/// write lock first, so two processes migrating at once take turns.
#[cfg(feature = "sqlite")]
pub async fn sqlite(
    pool: &Pool<Sqlite>,
    version_table: &str,
    steps: &[String],
) -> Result<(), Error> {
    let mut tx = crate::begin_with(pool, "BEGIN IMMEDIATE").await?;
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {version_table} (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    ))
    .execute(&mut *tx)
    .await?;
    let current: Option<i64> =
        sqlx::query_scalar(&format!("SELECT max(version) FROM {version_table}"))
            .fetch_one(&mut *tx)
            .await?;
    let current = known(version_table, current, steps.len())?;
    for (i, step) in steps.iter().enumerate().skip(current) {
        // Called on the executor: `raw_sql(step).execute(&mut *tx)` makes a
        // future rustc cannot prove Send, so no caller could be spawned.
        (&mut *tx).execute(sqlx::raw_sql(step)).await?;
        sqlx::query(&format!(
            "INSERT INTO {version_table} (version) VALUES ($1)"
        ))
        .bind((i + 1) as i64)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The version the tables are at, refused if newer than this crate knows.
fn known(version_table: &str, recorded: Option<i64>, steps: usize) -> Result<usize, Error> {
    let current = recorded.unwrap_or(0).max(0) as usize;
    if current > steps {
        return Err(Error::Schema(format!(
            "{version_table} records version {current}, this code knows {steps}; refusing to run older code on newer tables"
        )));
    }
    Ok(current)
}

//! Beginning a transaction so that a cancelled caller cannot leave it open.
//!
//! sqlx 0.8 records a transaction it began only after a second await: on
//! SQLite, `Pool::begin_with` checks the connection is in a transaction
//! after the `BEGIN` ran; on PostgreSQL, `Pool::begin` waits for the
//! server's answer to `BEGIN`. A future dropped in between (an aborted
//! task, a `select!`, a timeout) leaves the connection inside a
//! transaction nothing will roll back, and the pool hands it out again.
//! On SQLite after `BEGIN IMMEDIATE` that connection holds the database's
//! write lock for good: every other writer waits out its busy timeout and
//! fails with "database is locked". On PostgreSQL the next borrower's
//! statements run inside the stale transaction and hold its locks.
//!
//! The cure here: the begin runs in a task of its own, which finishes
//! whether or not its caller still waits. A caller that went away drops
//! the task's output, a [`Transaction`], whose drop rolls it back and
//! returns the connection clean. It costs a task spawn per transaction,
//! small beside the commit it precedes.

use sqlx::{Database, Pool, Transaction};
use tracing::Instrument;

/// Begins a transaction on a connection from `pool` (a plain `BEGIN`),
/// safe to cancel: dropping the future at any point leaves no connection
/// inside a transaction.
///
/// Use it instead of `pool.begin()` wherever the caller may be cancelled
/// (a task that can be aborted, a branch of a `select!`, a timeout) on
/// PostgreSQL; on SQLite `pool.begin()` is safe already.
pub async fn begin<DB: Database>(pool: &Pool<DB>) -> Result<Transaction<'static, DB>, sqlx::Error> {
    let pool = pool.clone();
    detached(async move { pool.begin().await }).await
}

/// Begins a transaction on a connection from `pool` with `statement`
/// (`"BEGIN IMMEDIATE"` on SQLite, to take the write lock at once), safe to
/// cancel: dropping the future at any point leaves no connection inside a
/// transaction, where `pool.begin_with(statement)` can leave one holding
/// the write lock.
pub async fn begin_with<DB: Database>(
    pool: &Pool<DB>,
    statement: &'static str,
) -> Result<Transaction<'static, DB>, sqlx::Error> {
    let pool = pool.clone();
    detached(async move { pool.begin_with(statement).await }).await
}

/// Runs `begin` to completion in a task of its own and returns its
/// result; if the caller stops waiting, the task still finishes and its
/// transaction is dropped there (rolled back).
async fn detached<DB: Database>(
    begin: impl Future<Output = Result<Transaction<'static, DB>, sqlx::Error>> + Send + 'static,
) -> Result<Transaction<'static, DB>, sqlx::Error> {
    match tokio::spawn(begin.in_current_span()).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only a runtime shutting down cancels the task.
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "beginning a transaction was cancelled: the runtime is shutting down",
        ))),
    }
}

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
//! The cure here: the begin is polled where it is awaited, as usual, but
//! if its caller drops it before it finished, the rest of it is moved to a
//! task of its own, which runs it to the end and drops the [`Transaction`]
//! it returns (rolling it back; the connection goes back clean). The
//! common path pays one allocation; a spawn happens only on a cancel.

use sqlx::{Database, Pool, Transaction};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::runtime::Handle;
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
    FinishOnDrop::new(async move { pool.begin().await }).await
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
    FinishOnDrop::new(async move { pool.begin_with(statement).await }).await
}

type Begin<DB> =
    Pin<Box<dyn Future<Output = Result<Transaction<'static, DB>, sqlx::Error>> + Send>>;

/// A begin that, dropped before it finished, is finished elsewhere.
struct FinishOnDrop<DB: Database> {
    /// `None` once it returned its result.
    begin: Option<Begin<DB>>,
}

impl<DB: Database> FinishOnDrop<DB> {
    /// Runs `begin` to completion even if the caller stops waiting.
    fn new(
        begin: impl Future<Output = Result<Transaction<'static, DB>, sqlx::Error>> + Send + 'static,
    ) -> Self {
        Self {
            begin: Some(Box::pin(begin.in_current_span())),
        }
    }
}

impl<DB: Database> Future for FinishOnDrop<DB> {
    type Output = Result<Transaction<'static, DB>, sqlx::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let begin = self.begin.as_mut().expect("polled after it finished");
        let result = ready!(begin.as_mut().poll(cx));
        self.begin = None;
        Poll::Ready(result)
    }
}

impl<DB: Database> Drop for FinishOnDrop<DB> {
    fn drop(&mut self) {
        // Without a runtime (it is shutting down) there is nowhere to finish
        // it, and its connections are going away with the runtime.
        if let (Some(begin), Ok(runtime)) = (self.begin.take(), Handle::try_current()) {
            runtime.spawn(async move {
                drop(begin.await);
            });
        }
    }
}

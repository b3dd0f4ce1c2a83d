//! A caller cancelled while its transaction begins leaves no connection
//! inside a transaction: the pool hands its connections out clean, and on
//! SQLite the write lock is free for others.
//!
//! Each test starts a begin, polls it a few times with a pause between
//! polls (so the connection's worker and the database move on meanwhile),
//! drops it, and checks the pool's only connection. The sweep over poll
//! counts and pauses lands drops at each await of the begin; sqlx 0.8's own
//! `begin_with` (SQLite) and `begin` (PostgreSQL) fail these checks.

mod support;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// The (polls, pause) pairs tried, each a few times.
fn sweep() -> impl Iterator<Item = (usize, Duration)> {
    let pauses = [0, 20, 100, 400].map(Duration::from_micros);
    (1..=8).flat_map(move |polls| {
        pauses
            .into_iter()
            .flat_map(move |pause| std::iter::repeat_n((polls, pause), 3))
    })
}

/// Polls `begin` up to `polls` times, `pause` apart, then drops it
/// (finished or not).
async fn cancel_after<F: Future>(begin: F, polls: usize, pause: Duration) {
    let mut begin = pin!(begin);
    for _ in 0..polls {
        let ready = poll_fn(|cx| Poll::Ready(begin.as_mut().poll(cx).is_ready())).await;
        if ready {
            return;
        }
        tokio::task::yield_now().await;
        // A blocking pause: tokio's timers are too coarse for the window.
        std::thread::sleep(pause);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_begin_immediate_leaves_no_connection_holding_the_sqlite_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("begin.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(2));
    // One connection: whatever a cancelled begin left on it, the next
    // borrower gets.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .unwrap();
    let other = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    for (round, (polls, pause)) in sweep().enumerate() {
        cancel_after(
            ballast_outbox::begin_with(&pool, "BEGIN IMMEDIATE"),
            polls,
            pause,
        )
        .await;
        // The pool's connection is not inside a transaction: a custom
        // BEGIN on it would be refused as a nested one.
        let tx = ballast_outbox::begin_with(&pool, "BEGIN IMMEDIATE")
            .await
            .unwrap_or_else(|e| panic!("round {round} ({polls} polls, {pause:?}): {e}"));
        tx.rollback().await.unwrap();
        // And another connection can take the write lock.
        let tx = ballast_outbox::begin_with(&other, "BEGIN IMMEDIATE")
            .await
            .unwrap_or_else(|e| panic!("round {round}, another connection: {e}"));
        tx.rollback().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_begin_leaves_no_postgres_connection_inside_a_transaction() {
    let Some(url) = support::service("BALLAST_PG_URL", "cancelled_begin_postgres") else {
        return;
    };
    let pool = support::postgres(&url, 1).await;
    for (round, (polls, pause)) in sweep().enumerate() {
        cancel_after(ballast_outbox::begin(&pool), polls, pause).await;
        // Two statements a moment apart see one `now()` (the start of
        // their transaction) only inside one transaction left open.
        let mut conn = pool.acquire().await.unwrap();
        let now = "SELECT now()::text";
        let first: String = sqlx::query_scalar(now).fetch_one(&mut *conn).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        let second: String = sqlx::query_scalar(now).fetch_one(&mut *conn).await.unwrap();
        assert_ne!(
            first, second,
            "round {round} ({polls} polls, {pause:?}): the pool's connection is inside a transaction"
        );
    }
}

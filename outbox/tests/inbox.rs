//! The inbox runs a handler at most once per message id, inside the
//! consumer's transaction: on SQLite (a temporary file, no server) and on
//! PostgreSQL (`BALLAST_PG_URL`).

mod common;

use ballast_outbox::inbox::{Inbox, InboxConfig, InboxDatabase, InboxError, Processed};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Pool, Postgres, Sqlite};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

// ---- the behaviours, written once for both databases ----

/// Processes `id` in a transaction of its own and commits when it is Ok.
async fn process_once<DB: InboxDatabase>(
    pool: &Pool<DB>,
    inbox: &Inbox<DB>,
    id: &str,
    runs: &AtomicUsize,
) -> Processed<()> {
    let mut tx = pool.begin().await.unwrap();
    let out = inbox
        .process(&mut tx, id, |_tx| async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::convert::Infallible>(())
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    out
}

async fn second_delivery_is_a_duplicate<DB: InboxDatabase>(pool: Pool<DB>, inbox: Inbox<DB>) {
    let runs = AtomicUsize::new(0);
    assert_eq!(
        process_once(&pool, &inbox, "m-1", &runs).await,
        Processed::Done(())
    );
    assert_eq!(
        process_once(&pool, &inbox, "m-1", &runs).await,
        Processed::Duplicate
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the handler ran for the duplicate"
    );
    // Another id is not a duplicate of the first.
    assert_eq!(
        process_once(&pool, &inbox, "m-2", &runs).await,
        Processed::Done(())
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

async fn handler_error_records_nothing<DB: InboxDatabase>(pool: Pool<DB>, inbox: Inbox<DB>) {
    let mut tx = pool.begin().await.unwrap();
    let out = inbox
        .process(&mut tx, "m-err", |_tx| async { Err::<(), _>("boom") })
        .await;
    assert!(matches!(out, Err(InboxError::Handler("boom"))), "{out:?}");
    tx.rollback().await.unwrap();
    // The id was not kept: the redelivery runs the handler.
    let runs = AtomicUsize::new(0);
    assert_eq!(
        process_once(&pool, &inbox, "m-err", &runs).await,
        Processed::Done(())
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

async fn rollback_leaves_no_id<DB: InboxDatabase>(pool: Pool<DB>, inbox: Inbox<DB>) {
    let runs = AtomicUsize::new(0);
    let mut tx = pool.begin().await.unwrap();
    let out = inbox
        .process(&mut tx, "m-rb", |_tx| async {
            Ok::<_, std::convert::Infallible>(7)
        })
        .await
        .unwrap();
    assert_eq!(out, Processed::Done(7));
    drop(tx); // a crash before commit: rolled back
    assert_eq!(
        process_once(&pool, &inbox, "m-rb", &runs).await,
        Processed::Done(())
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

async fn bad_ids_are_refused<DB: InboxDatabase>(pool: Pool<DB>, inbox: Inbox<DB>) {
    let runs = &AtomicUsize::new(0);
    for id in [String::new(), "x".repeat(256)] {
        let mut tx = pool.begin().await.unwrap();
        let out = inbox
            .process(&mut tx, &id, |_tx| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::convert::Infallible>(())
            })
            .await;
        assert!(
            matches!(out, Err(InboxError::InvalidId { len }) if len == id.len()),
            "{out:?}"
        );
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    // 255 bytes is fine.
    assert_eq!(
        process_once(&pool, &inbox, &"y".repeat(255), runs).await,
        Processed::Done(())
    );
}

// ---- SQLite ----

async fn sqlite(dir: &tempfile::TempDir) -> (Pool<Sqlite>, Inbox<Sqlite>) {
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("inbox.db"))
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .unwrap();
    let inbox = Inbox::new(pool.clone(), InboxConfig::default())
        .await
        .unwrap();
    (pool, inbox)
}

#[tokio::test]
async fn sqlite_second_delivery_is_a_duplicate_and_skips_the_handler() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, inbox) = sqlite(&dir).await;
    second_delivery_is_a_duplicate(pool, inbox).await;
}

#[tokio::test]
async fn sqlite_handler_error_records_nothing_and_a_later_attempt_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, inbox) = sqlite(&dir).await;
    handler_error_records_nothing(pool, inbox).await;
}

#[tokio::test]
async fn sqlite_rolled_back_transaction_leaves_no_id() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, inbox) = sqlite(&dir).await;
    rollback_leaves_no_id(pool, inbox).await;
}

#[tokio::test]
async fn sqlite_empty_or_overlong_ids_are_refused_without_running_the_handler() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, inbox) = sqlite(&dir).await;
    bad_ids_are_refused(pool, inbox).await;
}

#[tokio::test]
async fn sqlite_reopening_the_inbox_keeps_its_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, inbox) = sqlite(&dir).await;
    let runs = AtomicUsize::new(0);
    process_once(&pool, &inbox, "kept", &runs).await;
    let again = Inbox::new(pool.clone(), InboxConfig::default())
        .await
        .unwrap();
    assert_eq!(
        process_once(&pool, &again, "kept", &runs).await,
        Processed::Duplicate
    );
}

#[tokio::test]
async fn sqlite_purge_removes_ids_older_than_the_age_and_keeps_newer_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, inbox) = sqlite(&dir).await;
    let runs = AtomicUsize::new(0);
    process_once(&pool, &inbox, "old", &runs).await;
    process_once(&pool, &inbox, "new", &runs).await;
    // Two hours ago, in milliseconds.
    sqlx::query("UPDATE ballast_inbox SET received_at = received_at - 7200000 WHERE id = 'old'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        inbox
            .purge_older_than(Duration::from_secs(3600))
            .await
            .unwrap(),
        1
    );
    // The purged id is handled again; the kept one is still a duplicate.
    assert_eq!(
        process_once(&pool, &inbox, "old", &runs).await,
        Processed::Done(())
    );
    assert_eq!(
        process_once(&pool, &inbox, "new", &runs).await,
        Processed::Duplicate
    );
}

#[tokio::test]
async fn sqlite_refuses_a_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, _) = sqlite(&dir).await;
    let config = InboxConfig::builder().schema("elsewhere").build().unwrap();
    let err = Inbox::new(pool, config).await.unwrap_err();
    assert!(matches!(err, ballast_outbox::Error::Config(_)), "{err}");
}

#[test]
fn invalid_table_or_schema_names_are_config_errors() {
    for bad in ["", "1abc", "a-b", "a;drop", &"x".repeat(41)] {
        assert!(
            InboxConfig::builder().table(bad).build().is_err(),
            "{bad:?}"
        );
        assert!(
            InboxConfig::builder().schema(bad).build().is_err(),
            "{bad:?}"
        );
    }
    let ok = InboxConfig::builder()
        .table("orders_inbox")
        .schema("svc")
        .build()
        .unwrap();
    assert_eq!((ok.table(), ok.schema()), ("orders_inbox", Some("svc")));
}

// ---- PostgreSQL ----

/// A pool and an inbox in a table of the test's own; `None` (skip) when
/// `BALLAST_PG_URL` is unset.
async fn postgres(test: &str) -> Option<(Pool<Postgres>, Inbox<Postgres>, String)> {
    let url = common::service("BALLAST_PG_URL", test)?;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .unwrap();
    let table = common::unique("inbox");
    let config = InboxConfig::builder().table(&table).build().unwrap();
    let inbox = Inbox::new(pool.clone(), config).await.unwrap();
    Some((pool, inbox, table))
}

async fn drop_tables(pool: &Pool<Postgres>, table: &str) {
    sqlx::raw_sql(&format!(
        "DROP TABLE IF EXISTS {table}; DROP TABLE IF EXISTS {table}_version;"
    ))
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn postgres_second_delivery_is_a_duplicate_and_skips_the_handler() {
    let Some((pool, inbox, table)) = postgres("postgres_second_delivery_is_a_duplicate").await
    else {
        return;
    };
    second_delivery_is_a_duplicate(pool.clone(), inbox).await;
    drop_tables(&pool, &table).await;
}

#[tokio::test]
async fn postgres_handler_error_records_nothing_and_a_later_attempt_runs() {
    let Some((pool, inbox, table)) = postgres("postgres_handler_error_records_nothing").await
    else {
        return;
    };
    handler_error_records_nothing(pool.clone(), inbox).await;
    drop_tables(&pool, &table).await;
}

#[tokio::test]
async fn postgres_rolled_back_transaction_leaves_no_id() {
    let Some((pool, inbox, table)) =
        postgres("postgres_rolled_back_transaction_leaves_no_id").await
    else {
        return;
    };
    rollback_leaves_no_id(pool.clone(), inbox).await;
    drop_tables(&pool, &table).await;
}

#[tokio::test]
async fn postgres_empty_or_overlong_ids_are_refused_without_running_the_handler() {
    let Some((pool, inbox, table)) = postgres("postgres_bad_ids_are_refused").await else {
        return;
    };
    bad_ids_are_refused(pool.clone(), inbox).await;
    drop_tables(&pool, &table).await;
}

/// Two consumers get the same message at once. The second blocks on the
/// unique index while the first is open, then sees a duplicate once the
/// first commits: the handler ran once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_duplicate_waits_for_the_first_then_is_a_duplicate() {
    let Some((pool, inbox, table)) = postgres("postgres_concurrent_duplicate_waits").await else {
        return;
    };
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let mut first = pool.begin().await.unwrap();
    let r = runs.clone();
    let out = inbox
        .process(&mut first, "same", |_tx| async move {
            r.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::convert::Infallible>(())
        })
        .await
        .unwrap();
    assert_eq!(out, Processed::Done(()));

    let (pool2, inbox2, r2) = (pool.clone(), inbox.clone(), runs.clone());
    let mut second = tokio::spawn(async move {
        let mut tx = pool2.begin().await.unwrap();
        let out = inbox2
            .process(&mut tx, "same", |_tx| async move {
                r2.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::convert::Infallible>(())
            })
            .await
            .unwrap();
        tx.commit().await.unwrap();
        out
    });
    // While the first is open, the second waits on the index.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut second)
            .await
            .is_err(),
        "the second delivery did not wait for the first transaction"
    );
    first.commit().await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, Processed::Duplicate);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    drop_tables(&pool, &table).await;
}

/// The same race, but the first consumer fails and rolls back: the second,
/// once unblocked, runs the handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_duplicate_runs_the_handler_when_the_first_rolls_back() {
    let Some((pool, inbox, table)) = postgres("postgres_concurrent_duplicate_rolls_back").await
    else {
        return;
    };
    let mut first = pool.begin().await.unwrap();
    inbox
        .process(&mut first, "same", |_tx| async {
            Ok::<_, std::convert::Infallible>(())
        })
        .await
        .unwrap();
    let (pool2, inbox2) = (pool.clone(), inbox.clone());
    let mut second = tokio::spawn(async move {
        let runs = AtomicUsize::new(0);
        let out = process_once(&pool2, &inbox2, "same", &runs).await;
        (out, runs.load(Ordering::SeqCst))
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut second)
            .await
            .is_err()
    );
    first.rollback().await.unwrap();
    let (out, runs) = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((out, runs), (Processed::Done(()), 1));
    drop_tables(&pool, &table).await;
}

#[tokio::test]
async fn postgres_purge_removes_ids_older_than_the_age_and_keeps_newer_ones() {
    let Some((pool, inbox, table)) = postgres("postgres_purge_removes_old_ids").await else {
        return;
    };
    let runs = AtomicUsize::new(0);
    process_once(&pool, &inbox, "old", &runs).await;
    process_once(&pool, &inbox, "new", &runs).await;
    sqlx::query(&format!(
        "UPDATE {table} SET received_at = received_at - interval '2 hours' WHERE id = 'old'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        inbox
            .purge_older_than(Duration::from_secs(3600))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        process_once(&pool, &inbox, "old", &runs).await,
        Processed::Done(())
    );
    assert_eq!(
        process_once(&pool, &inbox, "new", &runs).await,
        Processed::Duplicate
    );
    drop_tables(&pool, &table).await;
}

#[tokio::test]
async fn postgres_inbox_in_a_schema_of_its_own() {
    let Some(url) = common::service("BALLAST_PG_URL", "postgres_inbox_in_a_schema_of_its_own")
    else {
        return;
    };
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap();
    let schema = common::unique("s");
    let config = InboxConfig::builder().schema(&schema).build().unwrap();
    let inbox = Inbox::new(pool.clone(), config).await.unwrap();
    assert_eq!(inbox.table(), format!("{schema}.ballast_inbox"));
    let runs = AtomicUsize::new(0);
    process_once(&pool, &inbox, "m", &runs).await;
    assert_eq!(
        process_once(&pool, &inbox, "m", &runs).await,
        Processed::Duplicate
    );
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
}

/// Opening and using the inbox inside `tokio::spawn` compiles and works:
/// the futures are `Send`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_inbox_opens_and_processes_inside_a_spawned_task() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spawned.db");
    let out = tokio::spawn(async move {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .unwrap();
        let inbox = Inbox::new(pool.clone(), InboxConfig::default())
            .await
            .unwrap();
        let runs = AtomicUsize::new(0);
        process_once(&pool, &inbox, "m", &runs).await
    })
    .await
    .unwrap();
    assert_eq!(out, Processed::Done(()));
}

//! Messages steps send go through the outbox in the same transaction as
//! the step's log entry, on SQLite and PostgreSQL (`BALLAST_PG_URL`): a
//! step's message exists if and only if its `step_succeeded` entry does;
//! a failed attempt's messages are dropped; a compensation's go with its
//! `compensated` entry.

mod support;

use ballast_outbox::{Message, Outbox};
use ballast_saga::{
    Database, Definition, Executor, ExecutorHandle, Kind, SagaId, Status, Step, StepContext,
    StepError, StepOutbox,
};
use std::time::Duration;
use support::*;

const LIMIT: Duration = Duration::from_secs(20);

/// "order": `reserve` sends `reserved` on every attempt and fails its
/// first attempt (a transient error); its compensation sends `released`;
/// `charge` refuses when the state says so, sending `charge-tried` first.
fn order() -> Definition<u32> {
    Definition::builder("order", 1)
        .step(
            Step::new("reserve", |c: StepContext<u32>| async move {
                let body = format!("attempt {}", c.attempt());
                c.send(Message::new("reserved", c.saga_id().to_string(), body));
                if c.attempt() == 1 {
                    return Err(StepError::transient("inventory busy"));
                }
                Ok(c.into_state())
            })
            .retry(quick_retry(3))
            .compensate(|c: StepContext<u32>| async move {
                c.send(Message::new("released", c.saga_id().to_string(), "undo"));
                Ok(c.into_state())
            }),
        )
        .step(
            Step::new("charge", |c: StepContext<u32>| async move {
                c.send(Message::new("charge-tried", c.saga_id().to_string(), "x"));
                if *c.state() == 1 {
                    return Err(StepError::compensate("card declined"));
                }
                Ok(c.into_state())
            })
            .pivot(),
        )
        .build()
        .unwrap()
}

async fn executor(db: impl Into<Database>, table: &str, outbox: StepOutbox) -> ExecutorHandle {
    Executor::builder(db)
        .config(config(table))
        .register(order())
        .outbox(outbox)
        .start()
        .await
        .expect("the executor starts")
}

/// The (topic, payload) of the messages enqueued for `saga`.
type Rows = Vec<(String, Vec<u8>)>;

async fn check(h: &ExecutorHandle, rows: impl AsyncFn(SagaId) -> Rows) {
    let done = h.start_saga("order", 1, &0u32).await.unwrap();
    assert_eq!(ended(h, done, LIMIT).await.status, Status::Completed);
    assert_eq!(
        rows(done).await,
        [
            ("reserved".to_string(), b"attempt 2".to_vec()),
            ("charge-tried".to_string(), b"x".to_vec()),
        ],
        "the failed first attempt's message was dropped"
    );
    let undone = h.start_saga("order", 1, &1u32).await.unwrap();
    assert_eq!(ended(h, undone, LIMIT).await.status, Status::Compensated);
    assert_eq!(
        rows(undone).await,
        [
            ("reserved".to_string(), b"attempt 2".to_vec()),
            ("released".to_string(), b"undo".to_vec()),
        ],
        "the refused charge's message was dropped; the compensation's sent"
    );
    let log = h.history(undone).await.unwrap();
    assert!(log.iter().any(|e| e.kind == Kind::Compensated));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_steps_messages_commit_with_its_entry_and_a_failed_attempts_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let pool = sqlite(&dir).await;
    let outbox = Outbox::new(pool.clone(), ballast_outbox::Config::default())
        .await
        .unwrap();
    let h = executor(pool.clone(), "ballast_saga", outbox.into()).await;
    check(&h, async |id: SagaId| {
        sqlx::query_as("SELECT topic, payload FROM ballast_outbox WHERE key = $1 ORDER BY ts")
            .bind(id.to_string())
            .fetch_all(&pool)
            .await
            .unwrap()
    })
    .await;
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_steps_messages_commit_with_its_entry_and_a_failed_attempts_are_dropped() {
    let Some(url) = service("BALLAST_PG_URL", "postgres step messages") else {
        return;
    };
    let pool = postgres(&url, 4).await;
    let table = unique_table("saga_msgs");
    let outbox_table = unique_table("saga_msgs_ob");
    let config = ballast_outbox::Config::builder()
        .table(outbox_table.clone())
        .build()
        .unwrap();
    let outbox = Outbox::new(pool.clone(), config).await.unwrap();
    let h = executor(pool.clone(), &table, outbox.into()).await;
    check(&h, async |id: SagaId| {
        sqlx::query_as(&format!(
            "SELECT topic, payload FROM {outbox_table} WHERE key = $1 ORDER BY ts"
        ))
        .bind(id.to_string())
        .fetch_all(&pool)
        .await
        .unwrap()
    })
    .await;
    h.shutdown().await.unwrap();
    drop_saga_tables(&pool, &table).await;
    drop_outbox_tables(&pool, &outbox_table).await;
}

/// A step that sends a message on an executor with no outbox is paused
/// with that reason; nothing claims it succeeded.
#[tokio::test]
async fn a_message_sent_without_an_outbox_pauses_the_saga() {
    let dir = tempfile::tempdir().unwrap();
    let h = Executor::builder(sqlite(&dir).await)
        .config(config("ballast_saga"))
        .register(order())
        .start()
        .await
        .unwrap();
    let id = h.start_saga("order", 1, &0u32).await.unwrap();
    let info = ended(&h, id, LIMIT).await;
    assert_eq!(info.status, Status::Paused);
    assert!(
        info.reason.as_deref().unwrap_or("").contains("no outbox"),
        "{:?}",
        info.reason
    );
    let log = h.history(id).await.unwrap();
    assert!(!log.iter().any(|e| e.kind == Kind::StepSucceeded));
    h.shutdown().await.unwrap();
}

//! The JetStream consumer helper end to end (`BALLAST_NATS_URL`, SQLite in
//! a temporary file): each message id is handled once, duplicates are
//! acked without running the handler, a failed handler's message comes
//! back and is handled on redelivery, and every message ends acknowledged.
#![cfg(feature = "nats")]

mod common;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::pull, stream};
use ballast_outbox::consumer::{ConsumeStats, InboxConsumer};
use ballast_outbox::inbox::{Inbox, InboxConfig};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

async fn publish(js: &jetstream::Context, subject: &str, ids: Option<(&str, &str)>) {
    let mut headers = HeaderMap::new();
    if let Some((ballast_id, nats_id)) = ids {
        headers.insert("Ballast-Id", ballast_id);
        headers.insert("Nats-Msg-Id", nats_id);
    }
    js.publish_with_headers(subject.to_owned(), headers, "x".into())
        .await
        .unwrap()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_handles_each_ballast_id_once_and_acks_every_message_after_commit() {
    let Some(url) = common::service("BALLAST_NATS_URL", "consumer_handles_each_ballast_id_once")
    else {
        return;
    };
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(url)
        .await
        .unwrap();
    let js = jetstream::new(client);
    let name = common::unique("consume");
    let subject = format!("{name}.events");
    let s = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{name}.>")],
            ..Default::default()
        })
        .await
        .unwrap();

    // Five messages; two of them again under another Nats-Msg-Id (so the
    // stream keeps them; only the inbox can tell); one whose handler fails
    // the first time; one with no id at all.
    for i in 0..5 {
        publish(&js, &subject, Some((&format!("id-{i}"), &format!("n-{i}")))).await;
    }
    publish(&js, &subject, Some(("id-1", "n-1-again"))).await;
    publish(&js, &subject, Some(("id-3", "n-3-again"))).await;
    publish(&js, &subject, Some(("id-fail", "n-fail"))).await;
    publish(&js, &subject, None).await;

    let mut consumer: jetstream::consumer::PullConsumer = s
        .create_consumer(pull::Config {
            durable_name: Some(name.clone()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("consumer.db"))
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE effects (id TEXT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let inbox = Inbox::new(pool.clone(), InboxConfig::default())
        .await
        .unwrap();

    let helper = InboxConsumer::new(consumer.clone(), pool.clone(), inbox)
        .nak_delay(Duration::from_millis(100));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let failed_once = Arc::new(AtomicBool::new(false));
    // Spawned: the helper's future is Send. The handler is written at the
    // call, so that it is inferred as taking any borrow.
    let run = tokio::spawn(async move {
        helper
            .run(
                |tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>, msg: &jetstream::Message| {
                    let failed_once = failed_once.clone();
                    let id = msg
                        .headers
                        .as_ref()
                        .and_then(|h| h.get("Ballast-Id"))
                        .map(|v| v.as_str().to_owned())
                        .unwrap_or_default();
                    Box::pin(async move {
                        if id == "id-fail" && !failed_once.swap(true, Ordering::SeqCst) {
                            return Err("first attempt fails".to_owned());
                        }
                        sqlx::query("INSERT INTO effects (id) VALUES (?)")
                            .bind(&id)
                            .execute(&mut **tx)
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok(())
                    }) as futures::future::BoxFuture<'_, Result<(), String>>
                },
                async {
                    let _ = stopped.await;
                },
            )
            .await
    });

    // Wait (bounded) until every message is handled and acknowledged.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let effects: i64 = sqlx::query_scalar("SELECT count(*) FROM effects")
            .fetch_one(&pool)
            .await
            .unwrap();
        let info = consumer.info().await.unwrap();
        if effects == 6 && info.num_pending == 0 && info.num_ack_pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not done in time: {effects} effects, {} pending, {} awaiting ack",
            info.num_pending,
            info.num_ack_pending
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("the consumer did not stop on shutdown")
        .unwrap()
        .unwrap();
    assert_eq!(
        stats,
        ConsumeStats {
            processed: 6,
            duplicates: 2,
            failed: 1,
            unidentified: 1
        }
    );
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT id) FROM effects")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(distinct, 6, "a message's effect was written twice");
    js.delete_stream(&name).await.unwrap();
}

//! The outbox and its relay on embedded SQLite (no server).

mod support;

use ballast_outbox::{
    Config, EnqueueError, InvalidMessage, Message, OnDeadLetter, Outbox, Relay, RelayConfig,
};
use std::time::Duration;
use support::Recorder;

fn relay_config() -> RelayConfig {
    RelayConfig::builder()
        .lease_ttl(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap()
}

async fn outbox(dir: &tempfile::TempDir) -> Outbox<sqlx::Sqlite> {
    let pool = support::sqlite(dir).await;
    Outbox::new(pool, Config::builder().partitions(8).build().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_leaves_no_message_and_a_commit_always_produces_one() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(&dir).await;
    let mut tx = outbox.pool().begin().await.unwrap();
    outbox
        .enqueue(&mut tx, &Message::new("t", "k", "rolled back"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = outbox.pool().begin().await.unwrap();
    let kept = outbox
        .enqueue(&mut tx, &Message::new("t", "k", "committed"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(outbox.backlog().await.unwrap().messages, 1);

    let recorder = Recorder::default();
    let relay = Relay::start(&outbox, recorder.clone(), relay_config());
    recorder.wait_for(1, Duration::from_secs(10)).await;
    relay.shutdown().await;
    let seen = recorder.seen.lock().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id, kept);
    assert_eq!(&seen[0].payload[..], b"committed");
    assert_eq!(
        seen[0].seq, 1,
        "the rolled-back message did not take a sequence number"
    );
    assert_eq!(
        outbox.backlog().await.unwrap().messages,
        0,
        "published rows left the table"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_is_published_in_commit_order_keys_interleaved() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(&dir).await;
    for round in 0..20 {
        let mut tx = outbox.pool().begin().await.unwrap();
        for key in 0..10 {
            let m = Message::new("t", format!("key-{key}"), format!("{round}"));
            outbox.enqueue(&mut tx, &m).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let batch: Vec<Message> = (0..50)
        .map(|i| Message::new("t", format!("key-{}", i % 7), "b"))
        .collect();
    let mut tx = outbox.pool().begin().await.unwrap();
    outbox.enqueue_all(&mut tx, &batch).await.unwrap();
    tx.commit().await.unwrap();

    let recorder = Recorder::default();
    let relay = Relay::start(
        &outbox,
        recorder.clone(),
        RelayConfig::builder()
            .batch_size(7)
            .lease_ttl(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    recorder.wait_for(250, Duration::from_secs(20)).await;
    relay.shutdown().await;
    assert_eq!(recorder.assert_key_order(), 0);
    assert_eq!(recorder.count(), 250);
}

#[tokio::test]
async fn an_invalid_message_is_refused_before_writing_and_the_transaction_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let pool = support::sqlite(&dir).await;
    let outbox = Outbox::new(
        pool,
        Config::builder()
            .max_payload_bytes(8)
            .max_key_bytes(4)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let mut tx = outbox.pool().begin().await.unwrap();
    let too_big = outbox
        .enqueue(&mut tx, &Message::new("t", "k", vec![0u8; 9]))
        .await;
    assert!(matches!(
        too_big,
        Err(EnqueueError::Invalid(InvalidMessage::PayloadTooLarge {
            len: 9,
            max: 8
        }))
    ));
    let no_topic = outbox.enqueue(&mut tx, &Message::new("", "k", "x")).await;
    assert!(matches!(
        no_topic,
        Err(EnqueueError::Invalid(InvalidMessage::EmptyTopic))
    ));
    let long_key = outbox
        .enqueue(&mut tx, &Message::new("t", "kkkkk", "x"))
        .await;
    assert!(matches!(
        long_key,
        Err(EnqueueError::Invalid(InvalidMessage::KeyTooLong { .. }))
    ));
    let batch = [
        Message::new("t", "k", "ok"),
        Message::new("t", "k", vec![1u8; 100]),
    ];
    assert!(outbox.enqueue_all(&mut tx, &batch).await.is_err());
    outbox
        .enqueue(&mut tx, &Message::new("t", "k", "fine"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        outbox.backlog().await.unwrap().messages,
        1,
        "only the valid message was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_broker_keeps_refusing_is_dead_lettered_and_holds_its_key_until_retried() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(&dir).await;
    let mut tx = outbox.pool().begin().await.unwrap();
    let poison = outbox
        .enqueue(&mut tx, &Message::new("t", "bad", "1"))
        .await
        .unwrap();
    outbox
        .enqueue(&mut tx, &Message::new("t", "bad", "2"))
        .await
        .unwrap();
    outbox
        .enqueue(&mut tx, &Message::new("t", "good", "1"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let recorder = Recorder::default();
    *recorder.refuse_key.lock() = Some("bad".into());
    let config = RelayConfig::builder()
        .max_attempts(3)
        .on_dead_letter(OnDeadLetter::HoldKey)
        .lease_ttl(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let relay = Relay::start(&outbox, recorder.clone(), config);
    recorder.wait_for(1, Duration::from_secs(10)).await;
    let start = std::time::Instant::now();
    while outbox.dead_letters(None, 10).await.unwrap().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "no dead letter");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dead = outbox.dead_letters(Some("bad"), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, poison);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].last_error.as_deref(), Some("refused (test)"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let backlog = outbox.backlog().await.unwrap();
    assert_eq!(
        (backlog.messages, backlog.held_keys),
        (1, 1),
        "bad/2 waits behind its dead letter"
    );
    assert!(recorder.seen.lock().iter().all(|e| e.key == "good"));

    *recorder.refuse_key.lock() = None;
    outbox.retry_dead_letter(poison, "alice").await.unwrap();
    recorder.wait_for(3, Duration::from_secs(10)).await;
    relay.shutdown().await;
    assert_eq!(recorder.assert_key_order(), 0, "bad/1 went before bad/2");
    let decisions = outbox.decisions(10).await.unwrap();
    assert_eq!(decisions[0].action, "retry");
    assert_eq!(decisions[0].by.as_deref(), Some("alice"));
    assert_eq!(decisions[1].action, "dead-lettered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_does_not_dead_letter_and_everything_goes_out_when_the_broker_returns() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(&dir).await;
    let recorder = Recorder::default();
    recorder
        .down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    // The broker's circuit opens during the outage (a few failed calls)
    // and waits 300 ms before each probe. With the default wait (60 s) the
    // run depended on timing: a publish that saw the broker down just as
    // it came back reopened the circuit, and the last message waited a
    // minute for the next probe.
    let breaker = ballast_circuit_breaker::Config::builder()
        .name("broker")
        .sliding_window(ballast_circuit_breaker::SlidingWindow::count(10))
        .minimum_calls(5)
        .wait_in_open(Duration::from_millis(300))
        .build()
        .unwrap();
    let config = RelayConfig::builder()
        .max_attempts(1)
        .lease_ttl(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(20))
        .breaker(breaker)
        .build()
        .unwrap();
    let relay = Relay::start(&outbox, recorder.clone(), config);
    let mut tx = outbox.pool().begin().await.unwrap();
    for i in 0..20 {
        outbox
            .enqueue(&mut tx, &Message::new("t", format!("k{}", i % 3), "x"))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(recorder.count(), 0);
    let stats = relay.stats();
    assert_eq!(stats.dead_lettered, 0, "{stats:?}");
    assert!(stats.not_sent > 0, "{stats:?}");
    assert_ne!(
        stats.breaker,
        ballast_circuit_breaker::State::Closed,
        "the outage opened the broker's circuit: {stats:?}"
    );
    recorder
        .down
        .store(false, std::sync::atomic::Ordering::Relaxed);
    recorder.wait_for(20, Duration::from_secs(30)).await;
    relay.shutdown().await;
    assert_eq!(recorder.assert_key_order(), 0);
    assert!(outbox.dead_letters(None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn opening_the_tables_with_another_partition_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pool = support::sqlite(&dir).await;
    Outbox::new(
        pool.clone(),
        Config::builder().partitions(8).build().unwrap(),
    )
    .await
    .unwrap();
    let again = Outbox::new(pool, Config::builder().partitions(16).build().unwrap()).await;
    assert!(
        matches!(again, Err(ballast_outbox::Error::Schema(_))),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_published_rows_are_purged_once_older_than_their_retention() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(&dir).await;
    let mut tx = outbox.pool().begin().await.unwrap();
    for i in 0..5 {
        outbox
            .enqueue(&mut tx, &Message::new("t", format!("k{i}"), "x"))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let recorder = Recorder::default();
    let relay = Relay::start(
        &outbox,
        recorder.clone(),
        RelayConfig::builder()
            .lease_ttl(Duration::from_millis(300))
            .poll_interval(Duration::from_millis(20))
            .retention(ballast_outbox::Retention::Keep(Duration::from_millis(500)))
            .build()
            .unwrap(),
    );
    recorder.wait_for(5, Duration::from_secs(10)).await;
    let kept = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM ballast_outbox_published")
            .fetch_one(outbox.pool())
            .await
            .unwrap()
    };
    // The broker sees a message a moment before the relay records it.
    let start = std::time::Instant::now();
    while kept().await < 5 {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "published rows are kept at first"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let start = std::time::Instant::now();
    while kept().await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "kept rows never purged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    relay.shutdown().await;
}

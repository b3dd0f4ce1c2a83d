//! The outbox and its relay on a real PostgreSQL (BALLAST_PG_URL).

mod support;

use ballast_outbox::{Config, Message, Outbox, Relay, RelayConfig, Retention};
use std::time::Duration;
use support::Recorder;

async fn outbox(url: &str, partitions: u32) -> Outbox<sqlx::Postgres> {
    let pool = support::postgres(url, 20).await;
    let config = Config::builder()
        .table(support::unique_table("obx"))
        .partitions(partitions)
        .build()
        .unwrap();
    Outbox::new(pool, config).await.unwrap()
}

fn relay_config(id: &str) -> RelayConfig {
    RelayConfig::builder()
        .relay_id(id)
        .lease_ttl(Duration::from_millis(1200))
        .poll_interval(Duration::from_millis(200))
        .retention(Retention::Keep(Duration::from_secs(3600)))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_committing_row_with_a_lower_id_is_neither_skipped_nor_published_out_of_order() {
    let Some(url) = support::service("BALLAST_PG_URL", "late_commit") else {
        return;
    };
    let outbox = outbox(&url, 4).await;
    let recorder = Recorder::default();
    let relay = Relay::start(&outbox, recorder.clone(), relay_config("late"));

    // Ids are taken before the transactions run: `early` has the lower id.
    let early_other_key = Message::new("t", "a", "a1");
    let early_same_key = Message::new("t", "k", "k-late");
    let later = Message::new("t", "k", "k-first");
    let later_other_key = Message::new("t", "b", "b1");
    assert!(early_same_key.id() < later.id());

    // T1 enqueues key a (lower id) and stays open.
    let mut t1 = outbox.pool().begin().await.unwrap();
    outbox.enqueue(&mut t1, &early_other_key).await.unwrap();
    // T2 enqueues key b and commits: published while T1 is still open.
    let mut t2 = outbox.pool().begin().await.unwrap();
    outbox.enqueue(&mut t2, &later_other_key).await.unwrap();
    t2.commit().await.unwrap();
    recorder.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(recorder.seen.lock()[0].key, "b");
    // Key k: the message with the higher id commits first.
    let mut t3 = outbox.pool().begin().await.unwrap();
    outbox.enqueue(&mut t3, &later).await.unwrap();
    t3.commit().await.unwrap();
    let mut t4 = outbox.pool().begin().await.unwrap();
    outbox.enqueue(&mut t4, &early_same_key).await.unwrap();
    t4.commit().await.unwrap();
    // Now the long transaction with the lowest id commits last.
    t1.commit().await.unwrap();
    recorder.wait_for(4, Duration::from_secs(10)).await;
    relay.shutdown().await;
    let seen = recorder.seen.lock().clone();
    let k: Vec<&[u8]> = seen
        .iter()
        .filter(|e| e.key == "k")
        .map(|e| &e.payload[..])
        .collect();
    assert_eq!(
        k,
        [b"k-first".as_slice(), b"k-late".as_slice()],
        "commit order, not id order"
    );
    assert!(
        seen.iter().any(|e| e.id == early_other_key.id()),
        "the late committer was not skipped"
    );
    assert_eq!(recorder.assert_key_order(), 0);
    support::drop_outbox_tables(outbox.pool(), outbox.config().table()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_writers_commit_in_counter_order_even_when_the_first_is_slow() {
    let Some(url) = support::service("BALLAST_PG_URL", "same_key_writers") else {
        return;
    };
    let outbox = outbox(&url, 4).await;
    let mut slow = outbox.pool().begin().await.unwrap();
    outbox
        .enqueue(&mut slow, &Message::new("t", "k", "first"))
        .await
        .unwrap();
    // A second writer of the same key waits on the key's counter row.
    let second = {
        let outbox = outbox.clone();
        tokio::spawn(async move {
            let mut tx = outbox.pool().begin().await.unwrap();
            outbox
                .enqueue(&mut tx, &Message::new("t", "k", "second"))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !second.is_finished(),
        "the second writer waits for the first"
    );
    slow.commit().await.unwrap();
    second.await.unwrap();
    let recorder = Recorder::default();
    let relay = Relay::start(&outbox, recorder.clone(), relay_config("writers"));
    recorder.wait_for(2, Duration::from_secs(10)).await;
    relay.shutdown().await;
    let seen = recorder.seen.lock().clone();
    assert_eq!(
        (&seen[0].payload[..], seen[0].seq),
        (b"first".as_slice(), 1)
    );
    assert_eq!(
        (&seen[1].payload[..], seen[1].seq),
        (b"second".as_slice(), 2)
    );
    support::drop_outbox_tables(outbox.pool(), outbox.config().table()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_relays_share_the_partitions_and_one_crashing_loses_and_reorders_nothing() {
    let Some(url) = support::service("BALLAST_PG_URL", "three_relays") else {
        return;
    };
    let outbox = outbox(&url, 16).await;
    let recorder = Recorder::default();
    let relays: Vec<_> = (0..3)
        .map(|i| Relay::start(&outbox, recorder.clone(), relay_config(&format!("r{i}"))))
        .collect();
    // Writers on several connections, one message per transaction.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                for i in 0..250 {
                    let mut tx = outbox.pool().begin().await.unwrap();
                    let m =
                        Message::new("t", format!("key-{}", (w * 7 + i) % 40), format!("{w}/{i}"));
                    outbox.enqueue(&mut tx, &m).await.unwrap();
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut relays = relays.into_iter();
    let crashed = relays.next().unwrap();
    let crashed_partitions = crashed.stats().partitions;
    crashed.abort();
    for w in writers {
        w.await.unwrap();
    }
    recorder.wait_for(1000, Duration::from_secs(30)).await;
    let survivors: Vec<_> = relays.collect();
    let held = || survivors.iter().map(|r| r.stats().partitions).sum::<u64>();
    wait_until(|| held() == 16, "the survivors take every partition over").await;
    let held = held();
    for r in survivors {
        r.shutdown().await;
    }
    let duplicates = recorder.assert_key_order();
    eprintln!(
        "crashed relay held {crashed_partitions} partitions; survivors {held}; duplicates {duplicates}"
    );
    assert_eq!(outbox.backlog().await.unwrap().messages, 0);
    support::drop_outbox_tables(outbox.pool(), outbox.config().table()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_joins_takes_its_share_within_a_lease_and_shutdown_hands_partitions_back() {
    let Some(url) = support::service("BALLAST_PG_URL", "rebalance") else {
        return;
    };
    let outbox = outbox(&url, 12).await;
    let recorder = Recorder::default();
    let first = Relay::start(&outbox, recorder.clone(), relay_config("first"));
    wait_until(|| first.stats().partitions == 12, "first takes all").await;
    let second = Relay::start(&outbox, recorder.clone(), relay_config("second"));
    wait_until(
        || first.stats().partitions == 6 && second.stats().partitions == 6,
        "split 6/6",
    )
    .await;
    second.shutdown().await;
    wait_until(|| first.stats().partitions == 12, "first takes all back").await;
    first.shutdown().await;
    support::drop_outbox_tables(outbox.pool(), outbox.config().table()).await;
}

async fn wait_until(cond: impl Fn() -> bool, what: &str) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

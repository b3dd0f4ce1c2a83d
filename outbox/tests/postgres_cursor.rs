//! The relay's read position on PostgreSQL (BALLAST_PG_URL): claims start
//! past what was already published, and still neither skip a row that
//! commits late behind that position nor let a key's next message overtake
//! it; the (key, seq) guard and its migration.

mod support;

use ballast_outbox::{Config, Message, Outbox, Relay, RelayConfig};
use std::time::Duration;
use support::Recorder;

async fn outbox(url: &str) -> Outbox<sqlx::Postgres> {
    let pool = support::postgres(url, 10).await;
    let config = Config::builder()
        .table(support::unique_table("cur"))
        .partitions(1)
        .build()
        .unwrap();
    Outbox::new(pool, config).await.unwrap()
}

/// A relay that reads from exactly the newest stamp it published (no
/// lookback), so a row behind its position is found only by a read from
/// the front: the rescan, or the guard meeting the row's successor. (A poll
/// reads from the position too; it only recovers a missed wake-up.)
fn relay_config(rescan: Duration, poll: Duration) -> RelayConfig {
    RelayConfig::builder()
        .lease_ttl(Duration::from_secs(5))
        .poll_interval(poll)
        .rescan_interval(rescan)
        .lookback(Duration::ZERO)
        .build()
        .unwrap()
}

async fn commit_one(outbox: &Outbox<sqlx::Postgres>, message: &Message) {
    let mut tx = outbox.pool().begin().await.unwrap();
    outbox.enqueue(&mut tx, message).await.unwrap();
    tx.commit().await.unwrap();
}

/// Opens a transaction that enqueues `k`'s first message and stays open,
/// then commits and publishes two messages of another key after it, so the
/// relay's position passes the open one's stamp.
async fn late_committer_behind_the_position(
    outbox: &Outbox<sqlx::Postgres>,
    recorder: &Recorder,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut late = outbox.pool().begin().await.unwrap();
    outbox
        .enqueue(&mut late, &Message::new("t", "k", "k1"))
        .await
        .unwrap();
    commit_one(outbox, &Message::new("t", "b", "b1")).await;
    recorder.wait_for(1, Duration::from_secs(20)).await;
    // b2 is claimed after b1's batch was recorded: from b1's stamp on.
    commit_one(outbox, &Message::new("t", "b", "b2")).await;
    recorder.wait_for(2, Duration::from_secs(20)).await;
    late
}

/// Waits until `n` messages arrived; on timeout, fails saying which did.
async fn wait_for(recorder: &Recorder, n: usize, limit: Duration) {
    let start = std::time::Instant::now();
    while recorder.count() < n {
        assert!(
            start.elapsed() < limit,
            "only {:?} arrived within {limit:?}",
            payloads(recorder)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn payloads(recorder: &Recorder) -> Vec<String> {
    recorder
        .seen
        .lock()
        .iter()
        .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_committer_behind_the_read_position_is_found_by_the_rescan() {
    let Some(url) = support::service("BALLAST_PG_URL", "cursor_rescan") else {
        return;
    };
    let outbox = outbox(&url).await;
    let recorder = Recorder::default();
    let relay = Relay::start(
        &outbox,
        recorder.clone(),
        relay_config(Duration::from_millis(500), Duration::from_secs(120)),
    );
    let late = late_committer_behind_the_position(&outbox, &recorder).await;
    late.commit().await.unwrap();
    // Only a rescan finds k1: one from its horizon within a rescan or two
    // (every 500 ms), well before the read from the front every 60th
    // rescan makes (30 s); the bound is generous for a loaded machine.
    recorder.wait_for(3, Duration::from_secs(15)).await;
    relay.shutdown().await;
    assert_eq!(payloads(&recorder), ["b1", "b2", "k1"]);
    assert_eq!(recorder.assert_key_order(), 0);
    support::drop_outbox_tables(outbox.pool(), outbox.config().table()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_committer_is_found_by_the_rescan_while_a_transaction_is_held_open_elsewhere() {
    let Some(url) = support::service("BALLAST_PG_URL", "cursor_rescan_held") else {
        return;
    };
    let outbox = outbox(&url).await;
    // Held from before the late committer began, on no outbox table: the
    // rescan's horizon leaves it out and still goes back far enough.
    let mut held = outbox.pool().begin().await.unwrap();
    sqlx::query("SELECT txid_current()")
        .execute(&mut *held)
        .await
        .unwrap();
    let recorder = Recorder::default();
    let relay = Relay::start(
        &outbox,
        recorder.clone(),
        relay_config(Duration::from_millis(500), Duration::from_secs(120)),
    );
    let late = late_committer_behind_the_position(&outbox, &recorder).await;
    // Rescans pass while k1 is still open.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    late.commit().await.unwrap();
    // As above: within a rescan or two, long before the front read (30 s).
    recorder.wait_for(3, Duration::from_secs(15)).await;
    relay.shutdown().await;
    held.rollback().await.unwrap();
    assert_eq!(payloads(&recorder), ["b1", "b2", "k1"]);
    assert_eq!(recorder.assert_key_order(), 0);
    support::drop_outbox_tables(outbox.pool(), outbox.config().table()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_put_back_and_the_message_held_behind_it_go_out_in_order_without_a_rescan() {
    let Some(url) = support::service("BALLAST_PG_URL", "cursor_dead_retry") else {
        return;
    };
    let outbox = outbox(&url).await;
    let recorder = Recorder::default();
    *recorder.refuse_key.lock() = Some("k".into());
    // No rescan within the test: the put-back rows are stamped anew, ahead
    // of the read position.
    let relay = Relay::start(
        &outbox,
        recorder.clone(),
        RelayConfig::builder()
            .lease_ttl(Duration::from_secs(5))
            .poll_interval(Duration::from_millis(100))
            .rescan_interval(Duration::from_secs(600))
            .lookback(Duration::ZERO)
            .max_attempts(1)
            .build()
            .unwrap(),
    );
    commit_one(&outbox, &Message::new("t", "k", "k1")).await;
    let start = std::time::Instant::now();
    let dead = loop {
        if let Some(d) = outbox.dead_letters(None, 10).await.unwrap().pop() {
            break d;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "k1 never dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // k2 waits behind the dead letter; b's messages move the position past it.
    commit_one(&outbox, &Message::new("t", "k", "k2")).await;
    commit_one(&outbox, &Message::new("t", "b", "b1")).await;
    wait_for(&recorder, 1, Duration::from_secs(20)).await;
    commit_one(&outbox, &Message::new("t", "b", "b2")).await;
    wait_for(&recorder, 2, Duration::from_secs(20)).await;
    *recorder.refuse_key.lock() = None;
    outbox.retry_dead_letter(dead.id, "operator").await.unwrap();
    // The retry wakes nobody: the 100 ms poll finds the rows ahead.
    wait_for(&recorder, 4, Duration::from_secs(20)).await;
    relay.shutdown().await;
    assert_eq!(payloads(&recorder), ["b1", "b2", "k1", "k2"]);
    assert_eq!(recorder.assert_key_order(), 0);
    support::drop_outbox_tables(outbox.pool(), outbox.config().table()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_committer_behind_the_read_position_is_not_overtaken_by_its_keys_next_message() {
    let Some(url) = support::service("BALLAST_PG_URL", "cursor_overtake") else {
        return;
    };
    let outbox = outbox(&url).await;
    let recorder = Recorder::default();
    // No rescan within the test: k1 can only be found because k2 is held
    // behind it, which sends the next claim to the front. (k2's wake-up can
    // race the relay going idle; the 200 ms poll recovers it.)
    let relay = Relay::start(
        &outbox,
        recorder.clone(),
        relay_config(Duration::from_secs(600), Duration::from_millis(200)),
    );
    let late = late_committer_behind_the_position(&outbox, &recorder).await;
    late.commit().await.unwrap();
    commit_one(&outbox, &Message::new("t", "k", "k2")).await;
    wait_for(&recorder, 4, Duration::from_secs(30)).await;
    relay.shutdown().await;
    assert_eq!(payloads(&recorder), ["b1", "b2", "k1", "k2"]);
    assert_eq!(recorder.assert_key_order(), 0);
    support::drop_outbox_tables(outbox.pool(), outbox.config().table()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_holds_a_message_while_its_predecessor_sits_locked_in_the_outbox() {
    let Some(url) = support::service("BALLAST_PG_URL", "cursor_guard") else {
        return;
    };
    let outbox = outbox(&url).await;
    let table = outbox.config().table().to_string();
    commit_one(&outbox, &Message::new("t", "k", "k1")).await;
    commit_one(&outbox, &Message::new("t", "k", "k2")).await;
    // Someone else locks k1: a claim's SKIP LOCKED passes over it, and
    // without the guard would publish k2 first.
    let mut locker = outbox.pool().begin().await.unwrap();
    sqlx::query(&format!(
        "SELECT id FROM {table} WHERE key = 'k' AND seq = 1 FOR UPDATE"
    ))
    .fetch_one(&mut *locker)
    .await
    .unwrap();
    let recorder = Recorder::default();
    let relay = Relay::start(
        &outbox,
        recorder.clone(),
        RelayConfig::builder()
            .lease_ttl(Duration::from_secs(5))
            .poll_interval(Duration::from_millis(20))
            .rescan_interval(Duration::from_millis(50))
            .lookback(Duration::ZERO)
            .build()
            .unwrap(),
    );
    // Other keys flow while k waits, through claims from the front and
    // from the position alike.
    for i in 0..5 {
        commit_one(&outbox, &Message::new("t", "b", format!("b{i}"))).await;
        recorder.wait_for(i + 1, Duration::from_secs(20)).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert!(
        payloads(&recorder).iter().all(|p| p.starts_with('b')),
        "nothing of k before k1 is free: {:?}",
        payloads(&recorder)
    );
    locker.commit().await.unwrap();
    recorder.wait_for(7, Duration::from_secs(30)).await;
    relay.shutdown().await;
    let k: Vec<String> = payloads(&recorder)
        .into_iter()
        .filter(|p| p.starts_with('k'))
        .collect();
    assert_eq!(k, ["k1", "k2"]);
    assert_eq!(recorder.assert_key_order(), 0);
    support::drop_outbox_tables(outbox.pool(), &table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_made_before_the_guard_index_get_it_on_the_next_open() {
    let Some(url) = support::service("BALLAST_PG_URL", "cursor_migration") else {
        return;
    };
    let outbox = outbox(&url).await;
    let pool = outbox.pool().clone();
    let config = outbox.config().clone();
    let table = config.table().to_string();
    // Back to version 1: no (key, seq) index.
    sqlx::query(&format!("DROP INDEX {table}_key_seq"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!("DELETE FROM {table}_version WHERE version = 2"))
        .execute(&pool)
        .await
        .unwrap();
    commit_one(&outbox, &Message::new("t", "k", "k1")).await;
    drop(outbox);
    let reopened = Outbox::new(pool.clone(), config).await.unwrap();
    let unique: bool =
        sqlx::query_scalar("SELECT indisunique FROM pg_index WHERE indexrelid = to_regclass($1)")
            .bind(format!("{table}_key_seq"))
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(unique, "the upgrade made the unique (key, seq) index");
    let versions: Vec<i32> = sqlx::query_scalar(&format!(
        "SELECT version FROM {table}_version ORDER BY version"
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(versions, [1, 2]);
    // A message written before the upgrade still goes out.
    let recorder = Recorder::default();
    let relay = Relay::start(
        &reopened,
        recorder.clone(),
        relay_config(Duration::from_millis(300), Duration::from_secs(120)),
    );
    recorder.wait_for(1, Duration::from_secs(20)).await;
    relay.shutdown().await;
    support::drop_outbox_tables(&pool, &table).await;
}

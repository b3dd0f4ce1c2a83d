//! PostgreSQL specifics: the database going away under the relay, tables in
//! their own schema, the claim using its index, kept rows purged.

mod support;

use ballast_outbox::{Config, Message, Outbox, Relay, RelayConfig, Retention};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;
use support::Recorder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_rides_out_its_connections_being_killed_and_loses_nothing() {
    let Some(url) = support::service("BALLAST_PG_URL", "connections_killed") else {
        return;
    };
    let app_name = support::unique_table("relaykill");
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .application_name(&app_name);
    let relay_pool = PgPoolOptions::new()
        .max_connections(6)
        .connect_with(options)
        .await
        .unwrap();
    let writer_pool = support::postgres(&url, 4).await;
    let table = support::unique_table("gone");
    let config = Config::builder()
        .table(&table)
        .partitions(4)
        .build()
        .unwrap();
    let writer = Outbox::new(writer_pool.clone(), config.clone())
        .await
        .unwrap();
    let relay_side = Outbox::new(relay_pool, config).await.unwrap();
    let recorder = Recorder::default();
    let relay = Relay::start(
        &relay_side,
        recorder.clone(),
        RelayConfig::builder()
            .lease_ttl(Duration::from_secs(2))
            .poll_interval(Duration::from_millis(50))
            .batch_size(10)
            .build()
            .unwrap(),
    );
    for round in 0..10 {
        let mut tx = writer.pool().begin().await.unwrap();
        for i in 0..30 {
            outbox_msg(&writer, &mut tx, round * 30 + i).await;
        }
        tx.commit().await.unwrap();
        // The database "goes away" for the relay: every one of its
        // connections is terminated by the server.
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&app_name)
        .execute(&writer_pool)
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    recorder.wait_for(300, Duration::from_secs(60)).await;
    // The last kill can land after a batch went out and before it was
    // recorded: its rows stay and go out again. Wait for the table to
    // drain before stopping.
    let start = std::time::Instant::now();
    while writer.backlog().await.unwrap().messages > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the outbox did not drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = relay.stats();
    relay.shutdown().await;
    recorder.assert_key_order();
    assert!(
        stats.database_errors > 0,
        "the relay met the lost connections: {stats:?}"
    );
    assert_eq!(writer.backlog().await.unwrap().messages, 0);
    support::drop_outbox_tables(&writer_pool, &table).await;
}

async fn outbox_msg(
    outbox: &Outbox<sqlx::Postgres>,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    i: usize,
) {
    outbox
        .enqueue(
            tx,
            &Message::new("t", format!("k{}", i % 13), format!("{i}")),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_in_their_own_schema_work_and_the_claim_uses_its_index() {
    let Some(url) = support::service("BALLAST_PG_URL", "schema_and_index") else {
        return;
    };
    let pool = support::postgres(&url, 4).await;
    let schema = support::unique_table("s");
    let config = Config::builder()
        .schema(&schema)
        .table("events")
        .partitions(2)
        .build()
        .unwrap();
    let outbox = Outbox::new(pool.clone(), config).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    outbox
        .enqueue(&mut tx, &Message::new("t", "k", "x"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let recorder = Recorder::default();
    let relay = Relay::start(
        &outbox,
        recorder.clone(),
        RelayConfig::builder()
            .poll_interval(Duration::from_millis(20))
            .retention(Retention::Keep(Duration::from_millis(1)))
            .build()
            .unwrap(),
    );
    recorder.wait_for(1, Duration::from_secs(10)).await;
    relay.shutdown().await;
    // The claim's plan, on a table big enough that a sequential scan would
    // not be free: it must walk the (partition, ts) index.
    sqlx::query(&format!(
        "INSERT INTO {schema}.events (id, partition, key, seq, ts, topic, headers, payload)
         SELECT gen_random_uuid(), g % 2, 'k' || g, 1, g, 't', '[]', '' FROM generate_series(1, 20000) g"
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!("ANALYZE {schema}.events"))
        .execute(&pool)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(&format!(
        "EXPLAIN SELECT id FROM {schema}.events o WHERE partition = 1
         AND NOT EXISTS (SELECT 1 FROM {schema}.events_held h WHERE h.key = o.key)
         ORDER BY ts LIMIT 100 FOR UPDATE SKIP LOCKED"
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("events_claim"),
        "the claim walks its index:\n{plan}"
    );
    let kept: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.events_published"))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, 1, "the published row was kept");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_relay_polls_with_reads_not_writes() {
    let Some(url) = support::service("BALLAST_PG_URL", "idle_reads") else {
        return;
    };
    let pool = support::postgres(&url, 8).await;
    let table = support::unique_table("idle");
    let outbox = Outbox::new(
        pool.clone(),
        Config::builder()
            .table(&table)
            .partitions(16)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let relay = Relay::start(
        &outbox,
        Recorder::default(),
        RelayConfig::builder()
            .lease_ttl(Duration::from_secs(3))
            .poll_interval(Duration::from_millis(20))
            .build()
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let updates = || async {
        // Statistics reach the view within about a second.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        sqlx::query_scalar::<_, i64>("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = $1")
            .bind(format!("{table}_leases"))
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let before = updates().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = updates().await;
    relay.shutdown().await;
    // 16 idle partitions polled every 20 ms for ~3.2 s: a claim per poll
    // would renew a lease about 2,500 times; renewals by the supervisor
    // (16 leases a third of a lease) are about 50.
    assert!(
        after - before < 300,
        "{} lease writes while idle",
        after - before
    );
    support::drop_outbox_tables(&pool, &table).await;
}

//! An order service with a transactional outbox: each order and its
//! `OrderPlaced` event are written in one transaction, a relay publishes the
//! events, and a shipping consumer handles each one exactly once through an
//! inbox — even though the relay crashes mid-way and publishes a message
//! twice.
//!
//! ```sh
//! cargo run -p ballast-examples --bin order-service            # SQLite, in-process broker
//! cargo run -p ballast-examples --bin order-service -- --pg postgres://postgres@127.0.0.1/test --nats nats://127.0.0.1:4222
//! ```
//!
//! Exits 0 when every committed order was shipped once and no rolled-back
//! order produced an event; 1 otherwise.

use ballast_outbox::consumer::InboxConsumer;
use ballast_outbox::inbox::{Inbox, InboxConfig, InboxDatabase, Processed};
use ballast_outbox::publish::JetStreamPublisher;
use ballast_outbox::{
    Backend, ChannelPublisher, Config, Envelope, Message, Outbox, PublishError, Publisher, Relay,
    RelayConfig,
};
use sqlx::{Database, Executor, IntoArguments, Pool};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

const ORDERS: u64 = 40;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let suffix = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
    let ok = match flag("--pg") {
        Some(url) => {
            println!("store: PostgreSQL at {url}");
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(10)
                .connect(&url)
                .await?;
            run(pool, flag("--nats"), &suffix).await?
        }
        None => {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("orders.db");
            println!("store: SQLite at {}", path.display());
            let pool = ballast_outbox::sqlite::connect(&path).await?;
            run(pool, flag("--nats"), &suffix).await?
        }
    };
    std::process::exit(if ok { 0 } else { 1 });
}

/// The whole story on one database type.
async fn run<DB>(
    pool: Pool<DB>,
    nats: Option<String>,
    suffix: &str,
) -> Result<bool, Box<dyn std::error::Error>>
where
    DB: Backend + InboxDatabase,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> i64: sqlx::Decode<'r, DB>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
{
    let orders = format!("orders_{suffix}");
    let shipments = format!("shipments_{suffix}");
    sqlx::query(&format!(
        "CREATE TABLE {orders} (id TEXT PRIMARY KEY, total BIGINT NOT NULL)"
    ))
    .execute(&pool)
    .await?;
    sqlx::query(&format!(
        "CREATE TABLE {shipments} (order_id TEXT PRIMARY KEY)"
    ))
    .execute(&pool)
    .await?;
    let outbox = Outbox::new(
        pool.clone(),
        Config::builder()
            .table(format!("outbox_{suffix}"))
            .build()?,
    )
    .await?;
    let inbox = Inbox::new(
        pool.clone(),
        InboxConfig::builder()
            .table(format!("inbox_{suffix}"))
            .build()?,
    )
    .await?;

    // 1. Orders and their events, one transaction each. Every fifth order
    //    fails a business check after its event was written: the
    //    rollback takes the event with it.
    let (mut committed, mut rolled_back) = (0u64, 0u64);
    for n in 1..=ORDERS {
        let id = format!("order-{n}");
        let mut tx = ballast_outbox::begin(&pool).await?;
        sqlx::query(&format!("INSERT INTO {orders} (id, total) VALUES ($1, $2)"))
            .bind(id.clone())
            .bind(100 * n as i64)
            .execute(&mut *tx)
            .await?;
        let event = Message::json(
            "orders.placed",
            id.clone(),
            &serde_json::json!({"order": id, "total": 100 * n}),
        )?;
        outbox.enqueue(&mut tx, &event).await?;
        if n % 5 == 0 {
            tx.rollback().await?;
            rolled_back += 1;
        } else {
            tx.commit().await?;
            committed += 1;
        }
    }
    println!(
        "placed {committed} orders, {rolled_back} rolled back by a business check (their events with them)"
    );

    // 2. The relay, which crashes once: the broker stores one message, then
    //    the relay dies before recording it, so the next relay sends it again.
    let handled = Arc::new(AtomicU64::new(0));
    let duplicates = Arc::new(AtomicU64::new(0));
    let mut cleanup = None;
    let (consumer, publisher): (tokio::task::JoinHandle<()>, Box<dyn StartRelay<DB>>) = match nats {
        Some(url) => {
            println!("broker: NATS JetStream at {url}");
            let client = async_nats::connect(&url).await?;
            let js = async_nats::jetstream::new(client);
            cleanup = Some(js.clone());
            let stream = format!("ORDERS_{suffix}");
            let subject_prefix = format!("shop{suffix}");
            let mut s = js
                .create_stream(async_nats::jetstream::stream::Config {
                    name: stream.clone(),
                    subjects: vec![format!("{subject_prefix}.>")],
                    ..Default::default()
                })
                .await?;
            let pull = s
                .create_consumer(async_nats::jetstream::consumer::pull::Config {
                    durable_name: Some("shipping".into()),
                    ..Default::default()
                })
                .await?;
            let _ = s.info().await?;
            let (pool, inbox, handled, duplicates) = (
                pool.clone(),
                inbox.clone(),
                handled.clone(),
                duplicates.clone(),
            );
            let shipments = shipments.clone();
            let consumer = tokio::spawn(async move {
                let stop = async {
                    while handled.load(Ordering::Relaxed) < ORDERS - ORDERS / 5 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                };
                let stats = InboxConsumer::new(pull, pool, inbox)
                    .run(
                        |tx, msg| {
                            let shipments = shipments.clone();
                            let handled = handled.clone();
                            Box::pin(async move {
                                let order: serde_json::Value =
                                    serde_json::from_slice(&msg.payload).unwrap_or_default();
                                ship(tx, &shipments, order["order"].as_str().unwrap_or_default())
                                    .await?;
                                handled.fetch_add(1, Ordering::Relaxed);
                                Ok::<_, sqlx::Error>(())
                            })
                        },
                        stop,
                    )
                    .await;
                if let Ok(stats) = stats {
                    duplicates.store(stats.duplicates, Ordering::Relaxed);
                }
            });
            let js_publisher = JetStreamPublisher::new(js.clone())
                .with_subject_prefix(format!("{subject_prefix}."));
            (consumer, Box::new(js_publisher))
        }
        None => {
            println!("broker: in-process channel");
            let (channel, mut received) = ChannelPublisher::new(64);
            let (pool, inbox, handled, duplicates) = (
                pool.clone(),
                inbox.clone(),
                handled.clone(),
                duplicates.clone(),
            );
            let shipments = shipments.clone();
            let consumer = tokio::spawn(async move {
                while let Some(envelope) = received.recv().await {
                    let mut tx = ballast_outbox::begin(&pool).await.expect("begin");
                    let order: serde_json::Value =
                        serde_json::from_slice(&envelope.payload).unwrap_or_default();
                    let id = order["order"].as_str().unwrap_or_default().to_string();
                    let shipments = shipments.clone();
                    let outcome = inbox
                        .process(&mut tx, &envelope.id.to_string(), |tx| async move {
                            ship(tx, &shipments, &id).await
                        })
                        .await
                        .expect("inbox");
                    tx.commit().await.expect("commit");
                    match outcome {
                        Processed::Done(()) => handled.fetch_add(1, Ordering::Relaxed),
                        Processed::Duplicate => {
                            println!(
                                "  consumer: {} delivered again; the inbox absorbed it",
                                envelope.key
                            );
                            duplicates.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            });
            (consumer, Box::new(channel))
        }
    };
    let crash = CrashAfterPublishing::new();
    let first = publisher.start_crashing(&outbox, crash.clone(), "relay-1");
    tokio::time::timeout(
        Duration::from_secs(30),
        crash.published_then_stuck.notified(),
    )
    .await
    .map_err(|_| format!("relay-1 published nothing in 30 s: {:?}", first))?;
    println!("relay-1: the broker stored a message, then the relay crashed before recording it");
    first.abort();
    let second = publisher.start(&outbox, "relay-2");
    let want = committed;
    let start = std::time::Instant::now();
    while handled.load(Ordering::Relaxed) < want && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = second.stats();
    second.shutdown().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    consumer.abort();
    println!(
        "relay-2: published {} messages in {} batches; backlog left: {}",
        stats.published,
        stats.batches,
        outbox.backlog().await?.messages
    );

    if let Some(js) = &cleanup {
        let mut stream = js.get_stream(format!("ORDERS_{suffix}")).await?;
        let stored = stream.info().await?.state.messages;
        println!(
            "the stream holds {stored} messages for {committed} orders: JetStream dropped the republished copy (same Nats-Msg-Id)"
        );
        let _ = js.delete_stream(format!("ORDERS_{suffix}")).await;
    }

    // 3. The checks.
    let (shipped,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM {shipments}"))
        .fetch_one(&pool)
        .await?;
    let (orders_kept,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM {orders}"))
        .fetch_one(&pool)
        .await?;
    let handled = handled.load(Ordering::Relaxed);
    let duplicates = duplicates.load(Ordering::Relaxed);
    println!(
        "shipping handled {handled} events, absorbed {duplicates} duplicate(s); {shipped} shipments for {orders_kept} orders"
    );
    let checks = [
        (
            "every committed order was shipped",
            shipped as u64 == committed && orders_kept as u64 == committed,
        ),
        ("each event was handled once", handled == committed),
        (
            "no rolled-back order produced an event",
            shipped as u64 <= committed,
        ),
    ];
    let mut ok = true;
    for (what, held) in checks {
        println!("  [{}] {what}", if held { "ok" } else { "FAILED" });
        ok &= held;
    }
    // Leave a shared database as it was found.
    if DB::NAME == "PostgreSQL" {
        for t in [orders, shipments] {
            sqlx::query(&format!("DROP TABLE {t}"))
                .execute(&pool)
                .await?;
        }
    }
    Ok(ok)
}

async fn ship<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    shipments: &str,
    order: &str,
) -> Result<(), sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(&format!("INSERT INTO {shipments} (order_id) VALUES ($1)"))
        .bind(order.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Starts relays over one publisher, plainly or through a crashing wrapper.
trait StartRelay<DB: Backend> {
    fn start(&self, outbox: &Outbox<DB>, id: &str) -> ballast_outbox::RelayHandle;
    fn start_crashing(
        &self,
        outbox: &Outbox<DB>,
        crash: CrashAfterPublishing,
        id: &str,
    ) -> ballast_outbox::RelayHandle;
}

impl<DB: Backend, P: Publisher + Clone> StartRelay<DB> for P {
    fn start(&self, outbox: &Outbox<DB>, id: &str) -> ballast_outbox::RelayHandle {
        Relay::start(outbox, self.clone(), relay_config(id))
    }

    fn start_crashing(
        &self,
        outbox: &Outbox<DB>,
        crash: CrashAfterPublishing,
        id: &str,
    ) -> ballast_outbox::RelayHandle {
        Relay::start(
            outbox,
            Crashing {
                inner: self.clone(),
                crash,
            },
            relay_config(id),
        )
    }
}

fn relay_config(id: &str) -> RelayConfig {
    RelayConfig::builder()
        .relay_id(id)
        .lease_ttl(Duration::from_secs(1))
        .poll_interval(Duration::from_millis(50))
        .build()
        .expect("valid relay config")
}

/// After its seventh publish reached the broker, never answers: the relay
/// is stuck between publishing and recording, where a crash hurts most.
#[derive(Clone)]
struct CrashAfterPublishing {
    count: Arc<AtomicU64>,
    stuck: Arc<AtomicBool>,
    published_then_stuck: Arc<Notify>,
}

impl CrashAfterPublishing {
    fn new() -> Self {
        CrashAfterPublishing {
            count: Arc::default(),
            stuck: Arc::default(),
            published_then_stuck: Arc::new(Notify::new()),
        }
    }
}

#[derive(Clone)]
struct Crashing<P> {
    inner: P,
    crash: CrashAfterPublishing,
}

impl<P: Publisher> Publisher for Crashing<P> {
    async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        if self.crash.stuck.load(Ordering::SeqCst) {
            return std::future::pending().await;
        }
        self.inner.publish(envelope).await?;
        if self.crash.count.fetch_add(1, Ordering::SeqCst) + 1 == 7 {
            self.crash.stuck.store(true, Ordering::SeqCst);
            self.crash.published_then_stuck.notify_one();
            return std::future::pending().await;
        }
        Ok(())
    }
}

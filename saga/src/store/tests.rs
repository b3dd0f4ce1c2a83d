//! The stores' fencing and leases, on SQLite (no server) and PostgreSQL
//! (`BALLAST_PG_URL`).

use super::*;
use crate::saga::Kind;
use serde_json::json;

const TTL: Duration = Duration::from_millis(200);

fn new_saga() -> NewSaga {
    NewSaga {
        id: SagaId::new(),
        name: "s".into(),
        version: 1,
        state: json!({"n": 0}),
        deadline_ms: None,
    }
}

fn step_started(step: &str) -> Append {
    Append {
        step: Some(step.into()),
        ..Append::new(Kind::StepStarted)
    }
}

/// A stale owner's append writes nothing once another took the saga over;
/// the new owner's appends go on.
async fn stale_owner_is_fenced(store: &dyn Store) {
    let lease_a = store.create(new_saga(), "a", TTL).await.unwrap();
    store
        .append(lease_a, "a", TTL, step_started("one"))
        .await
        .unwrap();
    // Nobody takes a live lease.
    assert!(store.claim("b", TTL, 10).await.unwrap().is_empty());
    tokio::time::sleep(TTL + Duration::from_millis(50)).await;
    let taken = store.claim("b", TTL, 10).await.unwrap();
    assert_eq!(
        taken,
        vec![Lease {
            id: lease_a.id,
            epoch: 2
        }]
    );
    let before = store.load(lease_a.id).await.unwrap().unwrap().log.len();
    let stale = store
        .append(lease_a, "a", TTL, step_started("one"))
        .await
        .unwrap_err();
    assert!(matches!(stale, Error::Fenced(id) if id == lease_a.id));
    let after = store.load(lease_a.id).await.unwrap().unwrap();
    assert_eq!(after.log.len(), before, "the fenced append wrote nothing");
    store
        .append(taken[0], "b", TTL, step_started("one"))
        .await
        .unwrap();
    let log = store.load(lease_a.id).await.unwrap().unwrap().log;
    assert_eq!(
        log.iter().map(|e| (e.n, e.epoch)).collect::<Vec<_>>(),
        [(1, 1), (2, 1), (3, 2)]
    );
}

/// A cancel lands before the pivot and is refused once the pivot started;
/// a gated entry is not written after a cancel.
async fn cancel_is_gated_by_the_pivot(store: &dyn Store) {
    let a = store.create(new_saga(), "a", TTL).await.unwrap();
    store.cancel(a.id).await.unwrap();
    let gated = Append {
        gate: true,
        ..step_started("one")
    };
    assert_eq!(
        store.append(a, "a", TTL, gated).await.unwrap(),
        Appended::Cancelled
    );
    assert_eq!(store.load(a.id).await.unwrap().unwrap().log.len(), 1);

    let b = store.create(new_saga(), "a", TTL).await.unwrap();
    let pivot = Append {
        gate: true,
        pivot: true,
        ..step_started("pivot")
    };
    store.append(b, "a", TTL, pivot).await.unwrap();
    assert!(matches!(
        store.cancel(b.id).await,
        Err(CancelError::PastPivot(_))
    ));
    let missing = SagaId::new();
    assert!(matches!(
        store.cancel(missing).await,
        Err(CancelError::NotFound(_))
    ));
}

/// A lease given back is claimed at once, at the next epoch; giving back
/// one lease leaves the others held.
async fn released_sagas_are_claimed_at_once(store: &dyn Store) {
    let a = store.create(new_saga(), "a", TTL).await.unwrap();
    let b = store.create(new_saga(), "a", TTL).await.unwrap();
    store.release("a", Some(a)).await.unwrap();
    let taken = store.claim("b", TTL, 10).await.unwrap();
    assert_eq!(taken, vec![Lease { id: a.id, epoch: 2 }]);
    store.release("a", None).await.unwrap();
    let taken = store.claim("b", TTL, 10).await.unwrap();
    assert_eq!(taken, vec![Lease { id: b.id, epoch: 2 }]);
}

/// Status and state changes land on the row; ended sagas are not claimed.
async fn ended_sagas_are_not_claimed(store: &dyn Store) {
    let a = store.create(new_saga(), "a", TTL).await.unwrap();
    let done = Append {
        status: Some(Status::Completed),
        state: Some(json!({"n": 9})),
        ..Append::new(Kind::Completed)
    };
    store.append(a, "a", TTL, done).await.unwrap();
    let loaded = store.load(a.id).await.unwrap().unwrap();
    assert_eq!(loaded.info.status, Status::Completed);
    assert_eq!(loaded.info.state, json!({"n": 9}));
    tokio::time::sleep(TTL + Duration::from_millis(50)).await;
    let claimed = store.claim("b", TTL, 100).await.unwrap();
    assert!(!claimed.iter().any(|l| l.id == a.id));
}

/// A decision takes the saga from whoever held it: the former holder's
/// appends are fenced, the resumed saga is claimed at a newer epoch still,
/// and a second decision that no longer applies writes nothing.
async fn a_decision_fences_the_former_holder(store: &dyn Store) {
    use crate::operator::Decision;
    let a = store.create(new_saga(), "a", TTL).await.unwrap();
    let paused = Append {
        status: Some(Status::Paused),
        error: Some("asked for an operator".into()),
        ..Append::new(Kind::Paused)
    };
    store.append(a, "a", TTL, paused).await.unwrap();
    // Paused sagas are not claimed.
    assert!(store.claim("b", TTL, 10).await.unwrap().is_empty());
    store.decide(a.id, Decision::Resume, "ops").await.unwrap();
    let stale = store
        .append(a, "a", TTL, step_started("one"))
        .await
        .unwrap_err();
    assert!(matches!(stale, Error::Fenced(_)));
    let taken = store.claim("b", TTL, 10).await.unwrap();
    assert_eq!(taken, vec![Lease { id: a.id, epoch: 3 }]);
    let refused = store
        .decide(a.id, Decision::Resume, "ops")
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        crate::DecisionError::WrongStatus {
            status: Status::Running,
            ..
        }
    ));
    let log = store.load(a.id).await.unwrap().unwrap().log;
    assert_eq!(
        log.iter()
            .map(|e| (e.kind, e.epoch, e.error.clone()))
            .collect::<Vec<_>>(),
        [
            (Kind::Started, 1, None),
            (Kind::Paused, 1, Some("asked for an operator".into())),
            (Kind::OperatorDecision, 2, Some("resume by ops".into())),
        ]
    );
    assert_eq!(
        store.load(a.id).await.unwrap().unwrap().info.status,
        Status::Running
    );
}

/// Two operators deciding about one stuck saga at once: exactly one
/// decision is written, the other is refused.
async fn racing_decisions_write_one(store: &dyn Store) {
    use crate::operator::Decision;
    let a = store.create(new_saga(), "a", TTL).await.unwrap();
    let stuck = Append {
        status: Some(Status::Stuck),
        ..Append::new(Kind::Stuck)
    };
    store.append(a, "a", TTL, stuck).await.unwrap();
    let (x, y) = tokio::join!(
        store.decide(a.id, Decision::RetryCompensation, "x"),
        store.decide(a.id, Decision::MarkCompensated, "y"),
    );
    assert!(x.is_ok() != y.is_ok(), "exactly one wins: {x:?} {y:?}");
    let loser = x.err().or(y.err()).unwrap();
    assert!(matches!(loser, crate::DecisionError::WrongStatus { .. }));
    let log = store.load(a.id).await.unwrap().unwrap().log;
    let decisions = log
        .iter()
        .filter(|e| e.kind == Kind::OperatorDecision)
        .count();
    assert_eq!(decisions, 1);
}

/// Messages go in the append's own transaction: a fenced append, a gated
/// one refused by a cancel, and one with a message the outbox refuses
/// enqueue nothing and log nothing; a written one enqueues all of them.
/// `count` reads how many messages the outbox holds.
async fn messages_exist_iff_their_entry_does(store: &dyn Store, count: impl AsyncFn() -> u64) {
    use ballast_outbox::Message;
    let msg = |topic: &str| Message::new(topic, "k", "payload");
    let with = |e: Append, topics: &[&str]| Append {
        messages: topics.iter().map(|t| msg(t)).collect(),
        ..e
    };
    let a = store.create(new_saga(), "a", TTL).await.unwrap();
    tokio::time::sleep(TTL + Duration::from_millis(50)).await;
    let b = store.claim("b", TTL, 10).await.unwrap()[0];
    let stale = store
        .append(a, "a", TTL, with(step_started("one"), &["t1", "t2"]))
        .await
        .unwrap_err();
    assert!(matches!(stale, Error::Fenced(_)));
    assert_eq!(count().await, 0, "a fenced append enqueues nothing");

    store.cancel(b.id).await.unwrap();
    let gated = Append {
        gate: true,
        ..with(step_started("one"), &["t1"])
    };
    assert_eq!(
        store.append(b, "b", TTL, gated).await.unwrap(),
        Appended::Cancelled
    );
    assert_eq!(count().await, 0, "a gated append refused enqueues nothing");

    let invalid = with(step_started("one"), &["ok", ""]);
    assert!(matches!(
        store.append(b, "b", TTL, invalid).await.unwrap(),
        Appended::InvalidMessage(_)
    ));
    assert_eq!(count().await, 0, "one invalid message: none enqueued");
    assert_eq!(store.load(b.id).await.unwrap().unwrap().log.len(), 1);

    let ok = with(step_started("one"), &["t1", "t2"]);
    assert!(matches!(
        store.append(b, "b", TTL, ok).await.unwrap(),
        Appended::Written { .. }
    ));
    assert_eq!(count().await, 2);
    assert_eq!(store.load(b.id).await.unwrap().unwrap().log.len(), 2);
}

#[cfg(feature = "sqlite")]
mod on_sqlite {
    use super::*;

    async fn store(dir: &tempfile::TempDir) -> sqlite::SqliteStore {
        let pool = crate::sqlite::connect(&dir.path().join("saga.db"))
            .await
            .unwrap();
        sqlite::SqliteStore::open(pool, &Config::default())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_stale_owners_append_is_fenced_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        stale_owner_is_fenced(&store(&dir).await).await;
    }

    #[tokio::test]
    async fn a_cancel_is_refused_once_the_pivot_started() {
        let dir = tempfile::tempdir().unwrap();
        cancel_is_gated_by_the_pivot(&store(&dir).await).await;
    }

    #[tokio::test]
    async fn ended_sagas_are_never_claimed() {
        let dir = tempfile::tempdir().unwrap();
        ended_sagas_are_not_claimed(&store(&dir).await).await;
    }

    #[tokio::test]
    async fn released_sagas_are_claimed_at_once() {
        let dir = tempfile::tempdir().unwrap();
        super::released_sagas_are_claimed_at_once(&store(&dir).await).await;
    }

    #[tokio::test]
    async fn an_operators_decision_fences_the_former_holder() {
        let dir = tempfile::tempdir().unwrap();
        a_decision_fences_the_former_holder(&store(&dir).await).await;
    }

    #[tokio::test]
    async fn two_operators_racing_on_one_saga_write_one_decision() {
        let dir = tempfile::tempdir().unwrap();
        racing_decisions_write_one(&store(&dir).await).await;
    }

    #[tokio::test]
    async fn a_steps_messages_exist_iff_its_entry_does() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::sqlite::connect(&dir.path().join("saga.db"))
            .await
            .unwrap();
        let outbox = ballast_outbox::Outbox::new(pool.clone(), Default::default())
            .await
            .unwrap();
        let store = sqlite::SqliteStore::open(pool, &Config::default())
            .await
            .unwrap()
            .with_outbox(outbox.clone());
        messages_exist_iff_their_entry_does(&store, async || {
            outbox.backlog().await.unwrap().messages
        })
        .await;
    }

    #[tokio::test]
    async fn migrating_twice_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        store(&dir).await;
        store(&dir).await;
    }
}

#[cfg(feature = "postgres")]
mod on_postgres {
    use super::*;

    /// The URL, or None after printing why the test skips; panics under
    /// BALLAST_REQUIRE_SERVICES=1.
    fn url(test: &str) -> Option<String> {
        match std::env::var("BALLAST_PG_URL") {
            Ok(v) if !v.is_empty() => Some(v),
            _ => {
                if std::env::var("BALLAST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                    panic!("{test}: BALLAST_PG_URL is not set and BALLAST_REQUIRE_SERVICES=1");
                }
                eprintln!("skipping {test}: BALLAST_PG_URL not set");
                None
            }
        }
    }

    async fn with_store<F>(test: &str, f: F)
    where
        F: AsyncFnOnce(&postgres::PgStore),
    {
        with_store_and(test, None, f).await
    }

    async fn with_store_and<F>(
        test: &str,
        outbox: Option<ballast_outbox::Outbox<sqlx::Postgres>>,
        f: F,
    ) where
        F: AsyncFnOnce(&postgres::PgStore),
    {
        let Some(url) = url(test) else { return };
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .unwrap();
        let table: String = format!("st_{}", uuid::Uuid::now_v7().simple())
            .chars()
            .take(30)
            .collect();
        let config = Config::builder().table(table.clone()).build().unwrap();
        let mut store = postgres::PgStore::open(pool.clone(), &config)
            .await
            .unwrap();
        if let Some(outbox) = outbox {
            store = store.with_outbox(outbox);
        }
        f(&store).await;
        sqlx::query(&format!(
            "DROP TABLE {table}_log, {table}_sagas, {table}_version"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_stale_owners_append_is_fenced_and_writes_nothing() {
        with_store("pg fencing", async |s| stale_owner_is_fenced(s).await).await;
    }

    #[tokio::test]
    async fn a_cancel_is_refused_once_the_pivot_started() {
        with_store("pg cancel", async |s| cancel_is_gated_by_the_pivot(s).await).await;
    }

    #[tokio::test]
    async fn released_sagas_are_claimed_at_once() {
        with_store("pg release", async |s| {
            super::released_sagas_are_claimed_at_once(s).await
        })
        .await;
    }

    #[tokio::test]
    async fn ended_sagas_are_never_claimed() {
        with_store("pg ended", async |s| ended_sagas_are_not_claimed(s).await).await;
    }

    #[tokio::test]
    async fn an_operators_decision_fences_the_former_holder() {
        with_store("pg decision", async |s| {
            a_decision_fences_the_former_holder(s).await
        })
        .await;
    }

    #[tokio::test]
    async fn a_steps_messages_exist_iff_its_entry_does() {
        let Some(url) = url("pg messages") else {
            return;
        };
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .unwrap();
        let ob: String = format!("sob_{}", uuid::Uuid::now_v7().simple())
            .chars()
            .take(30)
            .collect();
        let config = ballast_outbox::Config::builder()
            .table(ob.clone())
            .build()
            .unwrap();
        let outbox = ballast_outbox::Outbox::new(pool.clone(), config)
            .await
            .unwrap();
        with_store_and("pg messages", Some(outbox.clone()), async |s| {
            messages_exist_iff_their_entry_does(s, async || {
                outbox.backlog().await.unwrap().messages
            })
            .await
        })
        .await;
        let suffixes = [
            "",
            "_keys",
            "_leases",
            "_relays",
            "_held",
            "_dead",
            "_published",
            "_decisions",
            "_meta",
            "_version",
        ];
        let list: Vec<String> = suffixes.iter().map(|s| format!("{ob}{s}")).collect();
        sqlx::query(&format!("DROP TABLE {}", list.join(", ")))
            .execute(&pool)
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_operators_racing_on_one_saga_write_one_decision() {
        with_store("pg decision race", async |s| {
            racing_decisions_write_one(s).await
        })
        .await;
    }
}

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

/// Group commit: entries of many sagas in one transaction; the one whose
/// lease was taken over is fenced and the one cancelled is gated, each
/// alone, and the others commit.
async fn a_group_commits_the_others_when_one_is_fenced(store: &dyn Store) {
    // Leases that outlive a slow run: only the released one is claimable.
    const TTL: Duration = Duration::from_secs(120);
    let mut leases = Vec::new();
    for _ in 0..12 {
        leases.push(store.create(new_saga(), "a", TTL).await.unwrap());
    }
    let (taken, cancelled) = (leases[3], leases[7]);
    store.release("a", Some(taken)).await.unwrap();
    assert_eq!(store.claim("b", TTL, 10).await.unwrap().len(), 1);
    store.cancel(cancelled.id).await.unwrap();
    let batch: Vec<(Lease, Append)> = leases
        .iter()
        .map(|l| {
            let e = Append {
                n: 2,
                gate: true,
                messages: Vec::new(),
                ..step_started("one")
            };
            (*l, e)
        })
        .collect();
    let results = store
        .append_batch("a", TTL, &batch)
        .await
        .expect("the group commits");
    for (i, (lease, r)) in leases.iter().zip(results).enumerate() {
        let log = store.load(lease.id).await.unwrap().unwrap().log;
        match i {
            3 => {
                assert!(matches!(r, Err(Error::Fenced(_))), "{r:?}");
                assert_eq!(log.len(), 1);
            }
            7 => {
                assert_eq!(r.unwrap(), Appended::Cancelled);
                assert_eq!(log.len(), 1);
            }
            _ => {
                assert_eq!(
                    r.unwrap(),
                    Appended::Written {
                        cancel_requested: false
                    }
                );
                assert_eq!(log.iter().map(|e| e.n).collect::<Vec<_>>(), [1, 2]);
            }
        }
    }
}

/// An append retried after an ambiguous commit (the entry did commit)
/// finds its entry by number and writes nothing twice, its messages
/// included; a different entry at a taken number is an error.
async fn a_retried_append_writes_nothing_twice(store: &dyn Store, count: impl AsyncFn() -> u64) {
    use ballast_outbox::Message;
    let a = store.create(new_saga(), "a", TTL).await.unwrap();
    let entry = Append {
        n: 2,
        messages: vec![Message::new("t", "k", "p")],
        ..Append::new(Kind::StepSucceeded)
    };
    for _ in 0..2 {
        assert_eq!(
            store.append(a, "a", TTL, entry.clone()).await.unwrap(),
            Appended::Written {
                cancel_requested: false
            }
        );
    }
    assert_eq!(store.load(a.id).await.unwrap().unwrap().log.len(), 2);
    assert_eq!(count().await, 1, "the message is enqueued once");
    let other = Append {
        n: 2,
        ..Append::new(Kind::StepFailed)
    };
    assert!(matches!(
        store.append(a, "a", TTL, other.clone()).await,
        Err(Error::Schema(_))
    ));
    let b = store.create(new_saga(), "a", TTL).await.unwrap();
    let fresh = Append {
        n: 2,
        messages: vec![Message::new("t", "k", "q")],
        ..Append::new(Kind::StepSucceeded)
    };
    let batch = [(a, entry.clone()), (a, other.clone()), (b, fresh)];
    let again = store.append_batch("a", TTL, &batch).await.unwrap();
    assert!(matches!(again[0], Ok(Appended::Written { .. })));
    assert!(matches!(again[1], Err(Error::Schema(_))), "{:?}", again[1]);
    assert!(matches!(again[2], Ok(Appended::Written { .. })));
    assert_eq!(store.load(a.id).await.unwrap().unwrap().log.len(), 2);
    assert_eq!(store.load(b.id).await.unwrap().unwrap().log.len(), 2);
    assert_eq!(count().await, 2, "only the new entry's message is enqueued");
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
    async fn a_group_commit_with_one_fenced_saga_commits_the_others() {
        let dir = tempfile::tempdir().unwrap();
        a_group_commits_the_others_when_one_is_fenced(&store(&dir).await).await;
    }

    #[tokio::test]
    async fn a_retried_append_finds_its_entry_and_writes_nothing_twice() {
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
        a_retried_append_writes_nothing_twice(&store, async || {
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

    #[tokio::test]
    async fn a_group_commit_with_one_fenced_saga_commits_the_others() {
        with_store("pg group commit", async |s| {
            a_group_commits_the_others_when_one_is_fenced(s).await
        })
        .await;
    }

    #[tokio::test]
    async fn a_retried_append_finds_its_entry_and_writes_nothing_twice() {
        let Some(url) = url("pg idempotent append") else {
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
        with_store_and("pg idempotent append", Some(outbox.clone()), async |s| {
            a_retried_append_writes_nothing_twice(s, async || {
                outbox.backlog().await.unwrap().messages
            })
            .await
        })
        .await;
        drop_outbox(&pool, &ob).await;
    }

    async fn drop_outbox(pool: &sqlx::PgPool, ob: &str) {
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
            .execute(pool)
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

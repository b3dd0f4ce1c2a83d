//! The "services" the child executors call: a table of effects keyed by
//! idempotency key, in the saga's own database but written outside the
//! saga's transactions (each call commits on its own), so what a killed
//! child applied survives it. A call with a key already applied changes
//! nothing but its call count: the service deduplicates, as a real one
//! keyed by idempotency key would.

use super::Pool;

/// One applied effect: its key, its saga, what it was (`flight`,
/// `hotel/compensate`, ...), and how many calls carried its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    pub key: String,
    pub saga: String,
    pub what: String,
    pub calls: i64,
}

/// The effects table `table` in `pool`'s database.
#[derive(Clone, Debug)]
pub struct Effects {
    pub pool: Pool,
    pub table: String,
}

impl Effects {
    /// Creates the table (the parent, before any child starts).
    pub async fn create(pool: &Pool, table: &str) -> Effects {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, saga TEXT NOT NULL, what TEXT NOT NULL, calls BIGINT NOT NULL)"
        );
        match pool {
            Pool::Sqlite(p) => sqlx::query(&sql).execute(p).await.map(|_| ()),
            Pool::Postgres(p) => sqlx::query(&sql).execute(p).await.map(|_| ()),
        }
        .expect("the effects table is created");
        Effects::open(pool, table)
    }

    pub fn open(pool: &Pool, table: &str) -> Effects {
        Effects {
            pool: pool.clone(),
            table: table.into(),
        }
    }

    /// Applies the effect of `key` unless it was applied already; counts
    /// the call either way. Durable when it returns.
    pub async fn apply(&self, key: &str, saga: &str, what: &str) -> Result<(), sqlx::Error> {
        let t = &self.table;
        let sql = format!(
            "INSERT INTO {t} (key, saga, what, calls) VALUES ($1, $2, $3, 1)
             ON CONFLICT (key) DO UPDATE SET calls = {t}.calls + 1"
        );
        match &self.pool {
            Pool::Sqlite(p) => sqlx::query(&sql)
                .bind(key)
                .bind(saga)
                .bind(what)
                .execute(p)
                .await
                .map(|_| ()),
            Pool::Postgres(p) => sqlx::query(&sql)
                .bind(key)
                .bind(saga)
                .bind(what)
                .execute(p)
                .await
                .map(|_| ()),
        }
    }

    /// Every applied effect.
    pub async fn all(&self) -> Vec<Effect> {
        let sql = format!("SELECT key, saga, what, calls FROM {}", self.table);
        let rows: Vec<(String, String, String, i64)> = match &self.pool {
            Pool::Sqlite(p) => sqlx::query_as(&sql).fetch_all(p).await,
            Pool::Postgres(p) => sqlx::query_as(&sql).fetch_all(p).await,
        }
        .expect("the effects read back");
        rows.into_iter()
            .map(|(key, saga, what, calls)| Effect {
                key,
                saga,
                what,
                calls,
            })
            .collect()
    }

    /// What was applied for `saga`, sorted (an effect applied under two
    /// keys would show twice).
    pub async fn of(&self, saga: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .all()
            .await
            .into_iter()
            .filter(|e| e.saga == saga)
            .map(|e| e.what)
            .collect();
        v.sort();
        v
    }
}

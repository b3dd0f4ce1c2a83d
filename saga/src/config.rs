//! The executor's settings, built and checked by [`ConfigBuilder`]; an
//! invalid value is a [`ConfigError`], never a panic.

use ballast_core::ConfigError;
use ballast_retry::Backoff;
use std::time::Duration;

const EXECUTOR: &str = "saga executor";

/// Where the saga tables live and how the executor holds its sagas.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub(crate) table: String,
    pub(crate) schema: Option<String>,
    pub(crate) owner: String,
    pub(crate) lease: Duration,
    pub(crate) tick: Duration,
    pub(crate) claim_batch: u32,
    pub(crate) compensation_attempts: u32,
    pub(crate) compensation_backoff: Backoff,
    pub(crate) group_commit: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            table: "ballast_saga".into(),
            schema: None,
            owner: format!("executor-{}", uuid::Uuid::now_v7()),
            lease: Duration::from_secs(30),
            tick: Duration::from_secs(10),
            claim_batch: 100,
            compensation_attempts: 10,
            compensation_backoff: Backoff::default(),
            group_commit: 256,
        }
    }
}

impl Config {
    /// Starts from the defaults: tables `ballast_saga_sagas` and
    /// `ballast_saga_log`, a fresh owner name, 30 s leases renewed and
    /// claimed every 10 s (100 sagas a claim), 10 attempts per compensation
    /// with ballast-retry's default backoff, up to 256 log entries committed
    /// together.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder(Config::default())
    }
}

/// Builds a [`Config`].
#[derive(Debug, Clone)]
pub struct ConfigBuilder(Config);

fn ident(field: &'static str, s: &str) -> Result<(), ConfigError> {
    let ok = !s.is_empty()
        && s.len() <= 40
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            EXECUTOR,
            field,
            format!("{s:?} is not a plain SQL name (letters, digits, _; up to 40)"),
        ))
    }
}

impl ConfigBuilder {
    /// The tables' name prefix: `<table>_sagas`, `<table>_log`,
    /// `<table>_version`.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.0.table = table.into();
        self
    }

    /// The PostgreSQL schema to make the tables in (SQLite has none).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.0.schema = Some(schema.into());
        self
    }

    /// This executor's name in the lease column; unique per process.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.0.owner = owner.into();
        self
    }

    /// How long a saga stays owned without renewal; another executor takes
    /// it over after that.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.0.lease = lease;
        self
    }

    /// How often leases are renewed and free sagas claimed; under a third
    /// of the lease.
    pub fn tick(mut self, tick: Duration) -> Self {
        self.0.tick = tick;
        self
    }

    /// How many sagas one claim takes at most.
    pub fn claim_batch(mut self, n: u32) -> Self {
        self.0.claim_batch = n;
        self
    }

    /// Attempts of one compensation before the saga is marked stuck.
    pub fn compensation_attempts(mut self, n: u32) -> Self {
        self.0.compensation_attempts = n;
        self
    }

    /// The delays between a compensation's attempts.
    pub fn compensation_backoff(mut self, backoff: Backoff) -> Self {
        self.0.compensation_backoff = backoff;
        self
    }

    /// The most log entries (of as many sagas) committed in one
    /// transaction: the entries ready together are grouped up to this
    /// many. 1 commits each entry alone. Default 256.
    pub fn group_commit(mut self, max: u32) -> Self {
        self.0.group_commit = max;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<Config, ConfigError> {
        let c = self.0;
        ident("table", &c.table)?;
        if let Some(s) = &c.schema {
            ident("schema", s)?;
        }
        if c.owner.is_empty() {
            return Err(ConfigError::new(EXECUTOR, "owner", "must not be empty"));
        }
        if c.lease < Duration::from_millis(50) {
            return Err(ConfigError::new(EXECUTOR, "lease", "must be at least 50ms"));
        }
        if c.tick.is_zero() || c.tick * 3 > c.lease {
            return Err(ConfigError::new(
                EXECUTOR,
                "tick",
                format!(
                    "must be above zero and at most a third of the lease ({:?}), got {:?}",
                    c.lease, c.tick
                ),
            ));
        }
        if c.claim_batch == 0 {
            return Err(ConfigError::new(
                EXECUTOR,
                "claim_batch",
                "must be at least 1",
            ));
        }
        if c.group_commit == 0 {
            return Err(ConfigError::new(
                EXECUTOR,
                "group_commit",
                "must be at least 1",
            ));
        }
        if c.compensation_attempts == 0 {
            return Err(ConfigError::new(
                EXECUTOR,
                "compensation_attempts",
                "must be at least 1",
            ));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_over_a_third_of_the_lease_is_refused() {
        let e = Config::builder()
            .lease(Duration::from_secs(3))
            .tick(Duration::from_secs(2))
            .build()
            .unwrap_err();
        assert_eq!(e.field(), "tick");
    }

    #[test]
    fn a_table_name_that_is_not_plain_sql_is_refused() {
        let e = Config::builder().table("x; drop").build().unwrap_err();
        assert_eq!(e.field(), "table");
    }
}

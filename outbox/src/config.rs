//! Settings: [`Config`] for the tables and the limits of a message,
//! [`RelayConfig`] for the relay. Both are built and validated by a
//! builder; an invalid value is a [`ConfigError`], never a panic.

use ballast_core::ConfigError;
use std::time::Duration;

const OUTBOX: &str = "outbox";
const RELAY: &str = "outbox relay";

/// Where the outbox lives and what a message may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) table: String,
    pub(crate) schema: Option<String>,
    pub(crate) partitions: u32,
    pub(crate) max_payload: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_key: usize,
    pub(crate) max_topic: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            table: "ballast_outbox".into(),
            schema: None,
            partitions: 64,
            max_payload: 1 << 20,
            max_headers: 64 << 10,
            max_key: 256,
            max_topic: 256,
        }
    }
}

impl Config {
    /// Starts from the defaults: table `ballast_outbox` in the connection's
    /// default schema, 64 partitions, payloads up to 1 MiB, headers up to
    /// 64 KiB, keys and topics up to 256 bytes.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder(Config::default())
    }

    /// The hot table's name; the crate's other tables share it as a prefix.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The PostgreSQL schema, if one was set.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// How many partitions keys hash into (fixed when the tables are made).
    pub fn partitions(&self) -> u32 {
        self.partitions
    }
}

/// Builds a [`Config`].
#[derive(Debug, Clone)]
pub struct ConfigBuilder(Config);

impl ConfigBuilder {
    /// The hot table's name (letters, digits and `_`, starting with a
    /// letter or `_`, at most 40 bytes); the crate's other tables are named
    /// `<table>_keys`, `<table>_leases` and so on.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.0.table = name.into();
        self
    }

    /// The PostgreSQL schema the tables go in (created if missing). SQLite
    /// refuses a schema.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.0.schema = Some(name.into());
        self
    }

    /// How many partitions keys hash into (1 to 4096). A partition is the
    /// unit a relay leases: more partitions spread keys over more relays.
    /// Fixed when the tables are made: opening them with another count is
    /// an error, since moving keys between partitions could reorder them.
    pub fn partitions(mut self, n: u32) -> Self {
        self.0.partitions = n;
        self
    }

    /// The largest payload accepted, in bytes.
    pub fn max_payload_bytes(mut self, n: usize) -> Self {
        self.0.max_payload = n;
        self
    }

    /// The largest total size of a message's header names and values.
    pub fn max_header_bytes(mut self, n: usize) -> Self {
        self.0.max_headers = n;
        self
    }

    /// The longest ordering key accepted, in bytes.
    pub fn max_key_bytes(mut self, n: usize) -> Self {
        self.0.max_key = n;
        self
    }

    /// The longest topic accepted, in bytes.
    pub fn max_topic_bytes(mut self, n: usize) -> Self {
        self.0.max_topic = n;
        self
    }

    /// Validates and returns the config.
    pub fn build(self) -> Result<Config, ConfigError> {
        let c = self.0;
        identifier("table", &c.table)?;
        if let Some(schema) = &c.schema {
            identifier("schema", schema)?;
        }
        if !(1..=4096).contains(&c.partitions) {
            return Err(ConfigError::new(
                OUTBOX,
                "partitions",
                format!("must be in 1..=4096, got {}", c.partitions),
            ));
        }
        for (field, v) in [
            ("max_payload_bytes", c.max_payload),
            ("max_header_bytes", c.max_headers),
            ("max_key_bytes", c.max_key),
            ("max_topic_bytes", c.max_topic),
        ] {
            if v == 0 || v > (1 << 30) {
                return Err(ConfigError::new(
                    OUTBOX,
                    field,
                    format!("must be in 1..=1073741824, got {v}"),
                ));
            }
        }
        Ok(c)
    }
}

pub(crate) fn identifier(field: &'static str, name: &str) -> Result<(), ConfigError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && name.len() <= 40 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(ConfigError::new(
            OUTBOX,
            field,
            format!(
                "must be letters, digits and _, start with a letter or _, at most 40 bytes; got {name:?}"
            ),
        ))
    }
}

/// What happens to later messages of a key whose message went to the
/// dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDeadLetter {
    /// The key is held: its later messages wait until an operator retries
    /// or purges the dead letter. Keeps the key's order; the default.
    #[default]
    HoldKey,
    /// Later messages of the key go on; the dead one, if retried, arrives
    /// after them (out of order).
    SkipMessage,
}

/// What happens to a row once the broker acknowledged its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retention {
    /// Deleted from the hot table in the transaction that records the
    /// publish. The default.
    #[default]
    Delete,
    /// Moved to `<table>_published` (with when, by which relay and epoch)
    /// and deleted from there once older than the duration.
    Keep(Duration),
}

/// How the relay runs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub(crate) relay_id: String,
    pub(crate) batch_size: u32,
    pub(crate) lease_ttl: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) rescan_interval: Duration,
    pub(crate) lookback: Duration,
    pub(crate) publish_timeout: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) on_dead_letter: OnDeadLetter,
    pub(crate) retention: Retention,
    pub(crate) max_concurrent_batches: u32,
    pub(crate) retry: Option<ballast_retry::Config>,
    pub(crate) breaker: ballast_circuit_breaker::Config,
}

impl Default for RelayConfig {
    /// The defaults of [`RelayConfig::builder`], with a fresh relay id.
    fn default() -> Self {
        RelayConfig::builder()
            .build()
            .expect("the default relay settings are valid")
    }
}

impl RelayConfig {
    /// Starts from the defaults: batches of 100, 10 s leases, a poll every
    /// 500 ms when nothing wakes the relay, a rescan at least every second
    /// with a 100 ms lookback, 5 broker refusals before a
    /// message is dead-lettered, keys held behind a dead letter, rows
    /// deleted once published, 4 batches in flight.
    pub fn builder() -> RelayConfigBuilder {
        RelayConfigBuilder {
            config: RelayConfig {
                relay_id: format!("relay-{}", uuid::Uuid::now_v7()),
                batch_size: 100,
                lease_ttl: Duration::from_secs(10),
                poll_interval: Duration::from_millis(500),
                rescan_interval: Duration::from_secs(1),
                lookback: Duration::from_millis(100),
                publish_timeout: Duration::ZERO,
                max_attempts: 5,
                on_dead_letter: OnDeadLetter::HoldKey,
                retention: Retention::Delete,
                max_concurrent_batches: 4,
                retry: None,
                breaker: default_breaker(),
            },
            publish_timeout: None,
        }
    }

    /// This relay's name in the lease table.
    pub fn relay_id(&self) -> &str {
        &self.relay_id
    }

    /// How long a lease lasts without renewal.
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    /// The most messages claimed per batch.
    pub fn batch_size(&self) -> u32 {
        self.batch_size
    }

    /// How long one batch may spend publishing.
    pub fn publish_timeout(&self) -> Duration {
        self.publish_timeout
    }

    /// The longest a partition reads from its position before reading from
    /// the front again.
    pub fn rescan_interval(&self) -> Duration {
        self.rescan_interval
    }

    /// How far below the newest stamp it published a claim starts.
    pub fn lookback(&self) -> Duration {
        self.lookback
    }
}

/// Builds a [`RelayConfig`].
#[derive(Debug, Clone)]
pub struct RelayConfigBuilder {
    config: RelayConfig,
    publish_timeout: Option<Duration>,
}

impl RelayConfigBuilder {
    /// Names this relay in the lease table (default: `relay-<uuid>`).
    /// Two live relays must not share a name.
    pub fn relay_id(mut self, id: impl Into<String>) -> Self {
        self.config.relay_id = id.into();
        self
    }

    /// The most messages claimed and published per batch (1 to 10,000).
    pub fn batch_size(mut self, n: u32) -> Self {
        self.config.batch_size = n;
        self
    }

    /// How long a partition's lease lasts without renewal (at least
    /// 200 ms). A relay that dies loses its partitions to others within
    /// about this time (PostgreSQL: up to twice it, when the dead relay
    /// was stopped in the middle of a batch; see the crate docs).
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.config.lease_ttl = ttl;
        self
    }

    /// How often an idle partition is checked when nothing wakes it
    /// (PostgreSQL wakes it on `NOTIFY`; SQLite polls).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.config.poll_interval = every;
        self
    }

    /// The longest a partition's claims read from the relay's position
    /// before one rescans (PostgreSQL; 1 ms to 1 h, default 1 s). Claims
    /// start past the rows already published, so a transaction held open
    /// elsewhere does not make them walk every row deleted since it began;
    /// a message whose transaction commits after the position passed its
    /// stamp (and that no later message of its key follows, which would
    /// send the next claim to the front at once) waits for the next rescan,
    /// at most this long. A rescan reads back to the horizon measured
    /// before the previous one (the oldest start among transactions that
    /// may still write stamps; the crate docs' "Table health"), and every
    /// 60th one from the front. Lower means less delay for such a message
    /// and more rescans, each of which walks the dead index entries back to
    /// that horizon.
    pub fn rescan_interval(mut self, every: Duration) -> Self {
        self.config.rescan_interval = every;
        self
    }

    /// How far below the newest stamp it published a claim starts reading
    /// (PostgreSQL; up to 1 h, default 100 ms; zero is allowed). A stamp is
    /// the server's clock at enqueue, so a message whose transaction ran
    /// this much longer than one published after it (or that was stamped
    /// just before the server's clock stepped back this much) is still
    /// found by the next claim instead of the next rescan. Each claim walks
    /// the dead entries of this window while a transaction is held open
    /// elsewhere.
    pub fn lookback(mut self, window: Duration) -> Self {
        self.config.lookback = window;
        self
    }

    /// How long one batch may spend publishing before the messages not yet
    /// acknowledged are left for the next batch (default: a quarter of the
    /// lease; must be under half of it).
    pub fn publish_timeout(mut self, limit: Duration) -> Self {
        self.publish_timeout = Some(limit);
        self
    }

    /// How many times the broker may refuse a message before it goes to
    /// the dead letters (at least 1). Outages do not count.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.config.max_attempts = n;
        self
    }

    /// What happens to later messages of a dead-lettered message's key.
    pub fn on_dead_letter(mut self, policy: OnDeadLetter) -> Self {
        self.config.on_dead_letter = policy;
        self
    }

    /// Whether published rows are deleted or kept for a while.
    pub fn retention(mut self, retention: Retention) -> Self {
        self.config.retention = retention;
        self
    }

    /// How many partitions' batches one relay runs at once (1 to 1024);
    /// each holds a database connection while it runs.
    pub fn max_concurrent_batches(mut self, n: u32) -> Self {
        self.config.max_concurrent_batches = n;
        self
    }

    /// The retry policy for each publish (default: 3 attempts, 10 ms
    /// backoff doubling to 1 s, the default retry budget). Its classifier
    /// retries outages only.
    pub fn retry(mut self, config: ballast_retry::Config) -> Self {
        self.config.retry = Some(config);
        self
    }

    /// The circuit breaker in front of the broker: while open, the relay
    /// stops claiming and waits it out. The default is the breaker's own
    /// (50% of the last 100 publishes failing, at least 100) with a
    /// relay's wait: 1 s open, doubling on each trip in a row up to 30 s,
    /// ±20% jitter, so a relay is back within a second of a short broker
    /// blip and probes a long outage twice a minute, never in lockstep
    /// with the other relays.
    pub fn breaker(mut self, config: ballast_circuit_breaker::Config) -> Self {
        self.config.breaker = config;
        self
    }

    /// Validates and returns the config.
    pub fn build(self) -> Result<RelayConfig, ConfigError> {
        let mut c = self.config;
        if c.relay_id.is_empty() || c.relay_id.len() > 200 {
            return Err(ConfigError::new(
                RELAY,
                "relay_id",
                "must be 1 to 200 bytes",
            ));
        }
        if !(1..=10_000).contains(&c.batch_size) {
            return Err(ConfigError::new(
                RELAY,
                "batch_size",
                format!("must be in 1..=10000, got {}", c.batch_size),
            ));
        }
        if c.lease_ttl < Duration::from_millis(200) || c.lease_ttl > Duration::from_secs(3600) {
            return Err(ConfigError::new(
                RELAY,
                "lease_ttl",
                format!("must be between 200ms and 1h, got {:?}", c.lease_ttl),
            ));
        }
        if c.poll_interval.is_zero() || c.poll_interval > Duration::from_secs(3600) {
            return Err(ConfigError::new(
                RELAY,
                "poll_interval",
                format!("must be between 1ns and 1h, got {:?}", c.poll_interval),
            ));
        }
        if c.rescan_interval < Duration::from_millis(1)
            || c.rescan_interval > Duration::from_secs(3600)
        {
            return Err(ConfigError::new(
                RELAY,
                "rescan_interval",
                format!("must be between 1ms and 1h, got {:?}", c.rescan_interval),
            ));
        }
        if c.lookback > Duration::from_secs(3600) {
            return Err(ConfigError::new(
                RELAY,
                "lookback",
                format!("must be at most 1h, got {:?}", c.lookback),
            ));
        }
        c.publish_timeout = match self.publish_timeout {
            None => c.lease_ttl / 4,
            Some(t) if t.is_zero() || t >= c.lease_ttl / 2 => {
                return Err(ConfigError::new(
                    RELAY,
                    "publish_timeout",
                    format!(
                        "must be above zero and under half the lease ({:?}), got {t:?}",
                        c.lease_ttl / 2
                    ),
                ));
            }
            Some(t) => t,
        };
        if c.max_attempts == 0 {
            return Err(ConfigError::new(
                RELAY,
                "max_attempts",
                "must be at least 1",
            ));
        }
        if !(1..=1024).contains(&c.max_concurrent_batches) {
            return Err(ConfigError::new(
                RELAY,
                "max_concurrent_batches",
                format!("must be in 1..=1024, got {}", c.max_concurrent_batches),
            ));
        }
        if let Retention::Keep(d) = c.retention
            && d.is_zero()
        {
            return Err(ConfigError::new(
                RELAY,
                "retention",
                "a kept row needs a retention above zero (or use Retention::Delete)",
            ));
        }
        Ok(c)
    }
}

/// The relay's default breaker: see [`RelayConfigBuilder::breaker`].
fn default_breaker() -> ballast_circuit_breaker::Config {
    ballast_circuit_breaker::Config::builder()
        .name("outbox-relay")
        .wait_in_open(Duration::from_secs(1))
        .open_backoff(
            ballast_circuit_breaker::OpenBackoff::exponential(2.0, Duration::from_secs(30))
                .jitter(0.2),
        )
        .build()
        .expect("the relay's default breaker is valid")
}

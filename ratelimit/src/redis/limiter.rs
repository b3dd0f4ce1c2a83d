//! [`RedisRateLimiter`]: the limit shared through Redis, the plain async
//! helper and the handle.

use super::config::RedisConfig;
use super::fallback::{Cause, FallbackPath};
use super::metrics::{Counters, RedisMetrics};
use super::script::{GcraScript, Reply};
use crate::state::Usage;
use ballast_circuit_breaker::Breaker;
use ballast_core::{Reason, Rejected};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Which path decided a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecidedBy {
    /// The script on the Redis server: the shared limit.
    Redis,
    /// [`Fallback::FailOpen`](super::Fallback::FailOpen): Redis could not decide.
    FailOpen,
    /// [`Fallback::FailClosed`](super::Fallback::FailClosed): Redis could
    /// not decide (seen only on shadowed admissions).
    FailClosed,
    /// [`Fallback::Local`](super::Fallback::Local): this instance's share.
    LocalFallback,
}

/// A decision before shadow mode: admitted, or refused by a path.
pub(crate) type Decision = Result<Admitted, (Rejected, DecidedBy)>;

/// An admitted check, with what the limit has left (for `RateLimit`
/// headers) when Redis decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admitted {
    /// Which path decided.
    pub decided_by: DecidedBy,
    /// Cells that can still be taken at once (Redis decisions only).
    pub remaining: Option<u32>,
    /// How long until the whole burst is free again (Redis decisions only).
    pub reset_after: Option<Duration>,
    /// True when the check would have been refused and shadow mode let it
    /// through.
    pub shadowed: bool,
}

impl Admitted {
    pub(crate) fn new(
        decided_by: DecidedBy,
        remaining: Option<u32>,
        reset_after: Option<Duration>,
    ) -> Self {
        Self {
            decided_by,
            remaining,
            reset_after,
            shadowed: false,
        }
    }
}

/// The connection every clone shares; both kinds multiplex requests over
/// one socket and clone cheaply.
#[derive(Clone)]
enum Connection {
    Manager(::redis::aio::ConnectionManager),
    Multiplexed(::redis::aio::MultiplexedConnection),
}

struct Inner {
    config: RedisConfig,
    conn: Connection,
    script: GcraScript,
    breaker: Breaker,
    fallback: FallbackPath,
    counters: Counters,
    /// The series reported through the `metrics` facade.
    #[cfg(feature = "metrics")]
    export: crate::export::Export,
}

/// A GCRA rate limiter whose state lives in Redis, so every instance of a
/// service connected to the same Redis shares one limit per key.
///
/// Each check runs a Lua script on the server in one round trip
/// (`EVALSHA`): it reads the key's state, decides with Redis's own clock
/// (`TIME`, so the instances' clocks do not matter), and writes the new
/// state with an expiry so idle keys vanish. The reply says admit or
/// refuse, the exact time until the cells would fit, and what is left.
///
/// Redis calls go through a timeout and a
/// [`Breaker`]: when Redis fails or is
/// slow, the [`Fallback`](super::Fallback) decides (fail open, fail closed,
/// or a local limiter at this instance's share of the rate), and once the
/// breaker is open a check makes no network call at all until the breaker
/// lets a probe through and Redis answers again.
///
/// Clones share the connection, the breaker and the counters.
///
/// ```no_run
/// use ballast_ratelimit::redis::{Fallback, RedisConfig, RedisRateLimiter};
/// use std::time::Duration;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = RedisConfig::builder()
///     .name("api")
///     .rate(100, Duration::from_secs(1))
///     .burst(20)
///     .fallback(Fallback::Local { instances: 4 })
///     .build()?;
/// let limiter = RedisRateLimiter::connect("redis://127.0.0.1:6379/", config)?;
/// match limiter.check("client-42").await {
///     Ok(admitted) => println!("go; {:?} left", admitted.remaining),
///     Err(rejected) => println!("429; retry after {:?}", rejected.retry_after_hint()),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRateLimiter {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("config", &self.inner.config)
            .field("breaker", &self.inner.breaker)
            .field("fallback", &self.inner.fallback)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// A limiter on a [`ConnectionManager`](::redis::aio::ConnectionManager)
    /// to `url`, which reconnects by itself after Redis comes back.
    ///
    /// The connection is made lazily: a service can start while Redis is
    /// down (its checks go to the fallback). Must be called within a tokio
    /// runtime. An invalid URL is an error.
    pub fn connect(
        url: impl ::redis::IntoConnectionInfo,
        config: RedisConfig,
    ) -> Result<Self, ::redis::RedisError> {
        let client = ::redis::Client::open(url)?;
        let manager = ::redis::aio::ConnectionManagerConfig::new()
            // Reconnect quickly and give up soon: while Redis is away the
            // breaker and the fallback decide, and the next call that finds
            // the connection broken starts a new attempt.
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(200))
            .set_number_of_retries(2)
            .set_connection_timeout(Some(config.timeout.max(Duration::from_millis(250))));
        let conn = ::redis::aio::ConnectionManager::new_lazy_with_config(client, manager)?;
        Ok(Self::with_connection_manager(conn, config))
    }

    /// A limiter on a connection manager you configured yourself.
    pub fn with_connection_manager(
        conn: ::redis::aio::ConnectionManager,
        config: RedisConfig,
    ) -> Self {
        Self::build(Connection::Manager(conn), config)
    }

    /// A limiter on a multiplexed connection (which does not reconnect: a
    /// lost connection leaves every check to the fallback).
    pub fn with_multiplexed_connection(
        conn: ::redis::aio::MultiplexedConnection,
        config: RedisConfig,
    ) -> Self {
        Self::build(Connection::Multiplexed(conn), config)
    }

    fn build(conn: Connection, config: RedisConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                script: GcraScript::new(config.quota, config.window),
                breaker: Breaker::new(config.breaker.clone()),
                fallback: FallbackPath::new(&config),
                counters: Counters::default(),
                #[cfg(feature = "metrics")]
                export: crate::export::Export::new(&config.name),
                conn,
                config,
            }),
        }
    }

    /// Takes one cell of `key`'s shared limit, or says how long until one
    /// is free.
    pub async fn check(&self, key: &str) -> Result<Admitted, Rejected> {
        self.check_n(key, 1).await
    }

    /// Takes `n` cells of `key`'s shared limit at once, or none. More cells
    /// than the burst are refused with a "never" rejection without asking
    /// Redis. In shadow mode every check is admitted (and recorded as it
    /// was decided).
    ///
    /// Cancel safe: dropping the future gives back the breaker's permit
    /// (a half-open probe slot is freed); a script already sent may still
    /// run on the server.
    pub async fn check_n(&self, key: &str, n: u32) -> Result<Admitted, Rejected> {
        self.check_usage(key, n).await.0
    }

    /// Like [`check_n`](Self::check_n), with what the shared limit has
    /// left after the check when Redis decided it, admitted or refused
    /// (the HTTP layer's `RateLimit` fields).
    pub(crate) async fn check_usage(
        &self,
        key: &str,
        n: u32,
    ) -> (Result<Admitted, Rejected>, Option<Usage>) {
        let inner = &*self.inner;
        let (decision, usage) = if n > inner.config.quota.burst.get() {
            Counters::bump(&inner.counters.redis_decisions);
            let never = Err((Rejected::never(Reason::RateLimited), DecidedBy::Redis));
            (never, None)
        } else {
            self.decide(key, n).await
        };
        (self.finish(key, decision), usage)
    }

    async fn decide(&self, key: &str, n: u32) -> (Decision, Option<Usage>) {
        let inner = &*self.inner;
        let permit = match inner.breaker.try_acquire() {
            Ok(permit) => permit,
            Err(open) => {
                Counters::bump(&inner.counters.short_circuited);
                return (self.fall_back(key, n, Cause::BreakerOpen(open)), None);
            }
        };
        let redis_key = format!("{}{key}", inner.config.key_prefix);
        let mut conn = inner.conn.clone();
        let call = async {
            match &mut conn {
                Connection::Manager(c) => inner.script.run(c, &redis_key, n).await,
                Connection::Multiplexed(c) => inner.script.run(c, &redis_key, n).await,
            }
        };
        // The permit lives across this await: dropping the check's future
        // drops it, and the breaker counts the call as cancelled.
        match tokio::time::timeout(inner.config.timeout, call).await {
            Ok(Ok(reply)) => {
                permit.success();
                Counters::bump(&inner.counters.redis_decisions);
                inner.fallback.redis_decided(&inner.config.name);
                let usage = Usage {
                    remaining: reply.remaining,
                    reset: ballast_core::nanos(reply.reset_after),
                };
                (from_reply(reply), Some(usage))
            }
            Ok(Err(error)) => {
                permit.failure();
                Counters::bump(&inner.counters.redis_errors);
                (self.fall_back(key, n, Cause::Error(error)), None)
            }
            Err(_elapsed) => {
                permit.failure();
                Counters::bump(&inner.counters.redis_timeouts);
                (self.fall_back(key, n, Cause::Timeout), None)
            }
        }
    }

    #[cold]
    fn fall_back(&self, key: &str, n: u32, cause: Cause) -> Decision {
        let inner = &*self.inner;
        Counters::bump(&inner.counters.fallback_decisions);
        tracing::debug!(limiter = %inner.config.name, %cause, "rate limit decided without redis");
        inner.fallback.decide(&inner.config.name, key, n, &cause)
    }

    /// Counts the decision, traces a refusal, applies shadow mode.
    fn finish(&self, key: &str, decision: Decision) -> Result<Admitted, Rejected> {
        let inner = &*self.inner;
        match decision {
            Ok(admitted) => {
                Counters::bump(&inner.counters.admitted);
                #[cfg(feature = "metrics")]
                inner.export.admitted();
                Ok(admitted)
            }
            Err((rejected, by)) => {
                Counters::bump(&inner.counters.rejected);
                #[cfg(feature = "metrics")]
                inner.export.refused(&rejected);
                if inner.config.shadow {
                    Counters::bump(&inner.counters.shadowed);
                    tracing::debug!(
                        limiter = %inner.config.name,
                        key,
                        retry_after = ?rejected.retry_after_hint(),
                        "rate limit would reject (shadow mode, admitted)"
                    );
                    return Ok(Admitted {
                        shadowed: true,
                        ..Admitted::new(by, Some(0), None)
                    });
                }
                tracing::debug!(
                    limiter = %inner.config.name,
                    key,
                    retry_after = ?rejected.retry_after_hint(),
                    permanent = rejected.is_permanent(),
                    decided_by = ?by,
                    "rate limited"
                );
                Err(rejected)
            }
        }
    }

    /// The counters so far, with which path decided.
    pub fn metrics(&self) -> RedisMetrics {
        self.inner.counters.snapshot()
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// The breaker in front of Redis: its state, metrics and manual
    /// controls (force it open to take Redis out of the path by hand).
    pub fn breaker(&self) -> &Breaker {
        &self.inner.breaker
    }

    /// True while checks are decided by the fallback (since the last
    /// fallback decision, until Redis decides one again).
    pub fn is_falling_back(&self) -> bool {
        self.inner.fallback.is_active()
    }

    /// A tower layer limiting each request by the key `key_fn` picks from it.
    pub fn layer<F>(&self, key_fn: F) -> super::RedisRateLimitLayer<F> {
        super::RedisRateLimitLayer::new(self.clone(), key_fn)
    }

    /// The server-side HTTP layer on this shared limit: a refused request
    /// gets a 429 with `Retry-After` and the IETF rate-limit fields, as
    /// with the local limiters (features `http` and `redis`; see
    /// [`http`](crate::http)). `key_fn` picks each request's key (a client
    /// id, an IP; the same string for every request shares one limit).
    #[cfg(feature = "http")]
    pub fn http_layer<F>(
        &self,
        key_fn: F,
        config: crate::http::HttpConfig,
    ) -> crate::http::HttpRedisRateLimitLayer<F> {
        crate::http::HttpRedisRateLimitLayer::new(self.clone(), key_fn, config)
    }
}

fn from_reply(reply: Reply) -> Decision {
    if reply.admitted {
        Ok(Admitted::new(
            DecidedBy::Redis,
            Some(reply.remaining),
            Some(reply.reset_after),
        ))
    } else {
        Err((
            Rejected::retry_after(Reason::RateLimited, reply.retry_after),
            DecidedBy::Redis,
        ))
    }
}

//! The GCRA as a Lua script run on the Redis server (`gcra.lua`), and its
//! reply.
//!
//! The script reads the key's theoretical arrival time (TAT), decides with
//! the server's own clock (`TIME`), and on admission writes the new TAT
//! with an expiry (`SET … PX`, a `PEXPIRE` in the same command) at the
//! moment the key would read as fresh, so idle keys vanish by themselves.
//! It runs atomically on the server, so every instance sharing the key
//! sees one serial order of checks, in one round trip. The redis crate's
//! [`Script`] sends `EVALSHA` and falls back to loading the script on
//! `NOSCRIPT` (after a server restart or a `SCRIPT FLUSH`).
//!
//! Times travel in microseconds, the resolution of Redis's `TIME`: the
//! emission interval goes as a decimal with three places (the exact
//! nanosecond value), and the reply carries whole microseconds, rounded
//! up, so a retry-after is a "not before".

use crate::quota::Quota;
use redis::{FromRedisValue, ParsingError, Script, Value};
use std::time::Duration;

/// The script's source.
const SOURCE: &str = include_str!("gcra.lua");

/// The loaded script with the quota's arguments, formatted once.
#[derive(Debug)]
pub(crate) struct GcraScript {
    script: Script,
    /// `T` in µs, as a decimal string.
    interval_us: String,
    /// `W = B × T` in µs, as a decimal string.
    window_us: String,
}

impl GcraScript {
    pub(crate) fn new(quota: Quota, window_nanos: u64) -> Self {
        Self {
            script: Script::new(SOURCE),
            interval_us: micros_decimal(quota.interval),
            window_us: micros_decimal(window_nanos),
        }
    }

    /// One check of `n` cells of `key`: `EVALSHA` (or `EVAL` on `NOSCRIPT`).
    pub(crate) async fn run<C>(&self, conn: &mut C, key: &str, n: u32) -> redis::RedisResult<Reply>
    where
        C: redis::aio::ConnectionLike,
    {
        self.script
            .key(key)
            .arg(&self.interval_us)
            .arg(&self.window_us)
            .arg(n)
            .invoke_async(conn)
            .await
    }
}

/// Nanoseconds as a decimal number of microseconds: `1_500` → `"1.500"`.
fn micros_decimal(nanos: u64) -> String {
    format!("{}.{:03}", nanos / 1_000, nanos % 1_000)
}

/// What the script decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) admitted: bool,
    /// Zero when admitted; otherwise exactly when the cells would fit.
    pub(crate) retry_after: Duration,
    /// Cells that could still be taken at once after this check.
    pub(crate) remaining: u32,
    /// How long until the whole burst is available again.
    pub(crate) reset_after: Duration,
}

impl FromRedisValue for Reply {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        let [admitted, retry_after, remaining, reset_after]: [i64; 4] =
            <[i64; 4]>::from_redis_value(v)?;
        let micros = |x: i64| Duration::from_micros(u64::try_from(x).unwrap_or(0));
        Ok(Reply {
            admitted: admitted == 1,
            retry_after: micros(retry_after),
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            reset_after: micros(reset_after),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_travels_as_exact_microseconds() {
        assert_eq!(micros_decimal(333_333_333), "333333.333");
        assert_eq!(micros_decimal(1_000), "1.000");
        assert_eq!(micros_decimal(7), "0.007");
    }

    #[test]
    fn reply_parses_from_the_scripts_array() {
        let v = Value::Array(vec![
            Value::Int(0),
            Value::Int(1_500),
            Value::Int(0),
            Value::Int(9_000),
        ]);
        let r = Reply::from_redis_value(v).unwrap();
        assert!(!r.admitted);
        assert_eq!(r.retry_after, Duration::from_micros(1_500));
        assert_eq!(r.reset_after, Duration::from_micros(9_000));
        assert!(Reply::from_redis_value(Value::Int(1)).is_err());
    }
}

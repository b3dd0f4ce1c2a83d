//! What decides a check when Redis cannot: the [`Fallback`] policy, and
//! the record of entering and leaving it.

use super::config::{Fallback, RedisConfig};
use super::limiter::{Admitted, DecidedBy, Decision};
use crate::keyed::KeyedRateLimiter;
use ballast_core::{Reason, Rejected};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

/// Why Redis did not decide a check.
#[derive(Debug)]
pub(crate) enum Cause {
    /// The breaker is open: no call was made. Carries its rejection (when
    /// it may let calls through again).
    BreakerOpen(Rejected),
    /// The call failed.
    Error(::redis::RedisError),
    /// The call took longer than the timeout.
    Timeout,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::BreakerOpen(r) => write!(f, "breaker in front of redis refused: {r}"),
            Cause::Error(e) => write!(f, "redis call failed: {e}"),
            Cause::Timeout => f.write_str("redis call timed out"),
        }
    }
}

/// The fallback policy with its local limiter, and whether the last
/// decision was a fallback one (for the enter/leave events).
pub(crate) struct FallbackPath {
    policy: Policy,
    /// True from the first fallback decision until Redis decides again.
    active: AtomicBool,
}

enum Policy {
    Open,
    Closed,
    Local(KeyedRateLimiter<String>),
}

impl FallbackPath {
    pub(crate) fn new(config: &RedisConfig) -> Self {
        let policy = match (&config.fallback, &config.local) {
            (Fallback::FailOpen, _) => Policy::Open,
            (Fallback::FailClosed, _) => Policy::Closed,
            (Fallback::Local { .. }, Some((_, local))) => {
                Policy::Local(KeyedRateLimiter::new(local.clone()))
            }
            // `build` always sets `local` for a local fallback; refusing is
            // the safe reading if it did not.
            (Fallback::Local { .. }, None) => Policy::Closed,
        };
        Self {
            policy,
            active: AtomicBool::new(false),
        }
    }

    /// Decides `n` cells of `key` without Redis, because of `cause`.
    #[cold]
    pub(crate) fn decide(&self, name: &str, key: &str, n: u32, cause: &Cause) -> Decision {
        // Relaxed: only chooses who logs the transition; publishes nothing.
        if !self.active.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                limiter = %name,
                policy = self.policy_name(),
                cause = %cause,
                "redis rate limiter falling back"
            );
        }
        match &self.policy {
            Policy::Open => Ok(Admitted::new(DecidedBy::FailOpen, None, None)),
            Policy::Closed => {
                let rejected = match cause {
                    Cause::BreakerOpen(open) => match open.retry_after_hint() {
                        Some(after) => Rejected::retry_after(Reason::RateLimited, after),
                        None => Rejected::retry_later(Reason::RateLimited),
                    },
                    _ => Rejected::retry_later(Reason::RateLimited),
                };
                Err((rejected, DecidedBy::FailClosed))
            }
            Policy::Local(local) => match local.check_n(&key.to_owned(), n) {
                Ok(()) => Ok(Admitted::new(DecidedBy::LocalFallback, None, None)),
                Err(rejected) => Err((rejected, DecidedBy::LocalFallback)),
            },
        }
    }

    /// Notes that Redis decided a check; logs leaving the fallback.
    #[inline]
    pub(crate) fn redis_decided(&self, name: &str) {
        // Relaxed: as in `decide`. The load keeps the common path (Redis
        // up, never fell back) free of writes to the shared line.
        if self.active.load(Ordering::Relaxed) && self.active.swap(false, Ordering::Relaxed) {
            tracing::info!(limiter = %name, "redis is back; rate limiter uses the shared limit again");
        }
    }

    /// True while checks are being decided by the fallback.
    pub(crate) fn is_active(&self) -> bool {
        // Relaxed: a snapshot.
        self.active.load(Ordering::Relaxed)
    }

    fn policy_name(&self) -> &'static str {
        match self.policy {
            Policy::Open => "fail open",
            Policy::Closed => "fail closed",
            Policy::Local(_) => "local share",
        }
    }
}

impl fmt::Debug for FallbackPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackPath")
            .field("policy", &self.policy_name())
            .field("active", &self.is_active())
            .finish()
    }
}

//! The typed rejection every ballast policy returns.

use crate::duration::Human;
use std::fmt;
use std::time::Duration;

/// Why a ballast policy refused a call.
///
/// New reasons may be added as crates join the family, so match with a
/// wildcard arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The circuit breaker is open: the dependency failed too often.
    CircuitOpen,
    /// The circuit breaker is half-open and every probe slot is taken.
    CircuitHalfOpenBusy,
    /// The circuit breaker is ramping traffic back up after recovery and
    /// this call fell outside the share currently admitted.
    CircuitRecovering,
    /// An operator forced the circuit open.
    CircuitForcedOpen,
    /// Every concurrency permit is taken and the call may not wait.
    BulkheadFull,
    /// The bulkhead's wait queue is full.
    QueueFull,
    /// The call waited for a permit longer than allowed.
    QueueTimeout,
    /// The dependency is saturated and the call was shed.
    Overloaded,
    /// The rate limit is reached.
    RateLimited,
    /// The call's deadline passed, or cannot be met.
    DeadlineExceeded,
}

impl Reason {
    /// A short lowercase description, as used in `Display`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::CircuitOpen => "circuit open",
            Reason::CircuitHalfOpenBusy => "circuit half-open and all probe slots taken",
            Reason::CircuitRecovering => "circuit recovering and call not admitted in the ramp",
            Reason::CircuitForcedOpen => "circuit forced open",
            Reason::BulkheadFull => "bulkhead full",
            Reason::QueueFull => "bulkhead queue full",
            Reason::QueueTimeout => "waited too long for a bulkhead permit",
            Reason::Overloaded => "overloaded",
            Reason::RateLimited => "rate limited",
            Reason::DeadlineExceeded => "deadline exceeded",
        }
    }
}

/// When a rejected call may succeed if tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryAfter {
    /// Not before this much time has passed (a hint, not a promise).
    After(Duration),
    /// Later, but the policy cannot say when (for example a circuit an
    /// operator forced open).
    Unknown,
    /// Never: this request can never be admitted as it is (for example it
    /// asks for more permits than the limit holds).
    Never,
}

/// A call refused by a ballast policy, not failed by the inner service.
///
/// Every ballast layer returns this type for its refusals, boxed into
/// `tower::BoxError` when layers are stacked, so one `downcast_ref::<Rejected>()`
/// tells a policy refusal from a dependency failure whatever the layer order.
/// It carries the [`Reason`] and a [`RetryAfter`] hint.
///
/// Display is lowercase without a period: `circuit open; retry after 3s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    reason: Reason,
    retry_after: RetryAfter,
}

impl Rejected {
    /// A rejection that may be retried after `wait`.
    pub fn retry_after(reason: Reason, wait: Duration) -> Self {
        Self {
            reason,
            retry_after: RetryAfter::After(wait),
        }
    }

    /// A rejection that may be retried later, at a time nobody can tell.
    pub fn retry_later(reason: Reason) -> Self {
        Self {
            reason,
            retry_after: RetryAfter::Unknown,
        }
    }

    /// A rejection that will repeat however often the request is tried.
    pub fn never(reason: Reason) -> Self {
        Self {
            reason,
            retry_after: RetryAfter::Never,
        }
    }

    /// Why the call was refused.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// When the call may succeed if tried again.
    pub fn retry_after_value(&self) -> RetryAfter {
        self.retry_after
    }

    /// How long to wait before trying again, when the policy can tell.
    pub fn retry_after_hint(&self) -> Option<Duration> {
        match self.retry_after {
            RetryAfter::After(d) => Some(d),
            _ => None,
        }
    }

    /// The ballast refusal in `err` or anywhere in its chain of
    /// [`source`](std::error::Error::source)s, if there is one.
    ///
    /// A plain `downcast_ref::<Rejected>()` sees only the outer error; this
    /// also finds a refusal that something wrapped on its way up: tower's
    /// `Buffer` (whose error holds the inner one as its source), or an
    /// error type of your own that returns it from `source()`.
    ///
    /// ```
    /// use ballast_core::{BoxError, Reason, Rejected};
    ///
    /// #[derive(Debug)]
    /// struct Upstream(Rejected);
    /// impl std::fmt::Display for Upstream {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         f.write_str("inventory call failed")
    ///     }
    /// }
    /// impl std::error::Error for Upstream {
    ///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
    ///         Some(&self.0)
    ///     }
    /// }
    ///
    /// let err: BoxError = Box::new(Upstream(Rejected::retry_later(Reason::CircuitOpen)));
    /// assert!(err.downcast_ref::<Rejected>().is_none());
    /// assert_eq!(Rejected::find(&err).map(Rejected::reason), Some(Reason::CircuitOpen));
    /// ```
    pub fn find(err: &crate::BoxError) -> Option<&Rejected> {
        Self::find_in(err.as_ref())
    }

    /// [`Rejected::find`] for any error, not only a boxed one.
    pub fn find_in<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Rejected> {
        let mut next = Some(err);
        while let Some(e) = next {
            if let Some(rejected) = e.downcast_ref::<Rejected>() {
                return Some(rejected);
            }
            next = e.source();
        }
        None
    }

    /// True when retrying the same request can never succeed.
    pub fn is_permanent(&self) -> bool {
        self.retry_after == RetryAfter::Never
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason.as_str())?;
        match self.retry_after {
            RetryAfter::After(d) => write!(f, "; retry after {}", Human(readable(d))),
            RetryAfter::Unknown => Ok(()),
            RetryAfter::Never => f.write_str("; will never be admitted"),
        }
    }
}

impl std::error::Error for Rejected {}

/// Rounds a wait up to a precision a person reads at a glance: whole
/// milliseconds from 1ms, whole seconds from 10s. Rounding up keeps the
/// hint a "not before".
fn readable(d: Duration) -> Duration {
    let unit = if d >= Duration::from_secs(10) {
        Duration::from_secs(1)
    } else if d >= Duration::from_millis(1) {
        Duration::from_millis(1)
    } else {
        return d;
    };
    let units = d.as_nanos().div_ceil(unit.as_nanos());
    unit * u32::try_from(units).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_lowercase_with_hint_and_no_period() {
        let r = Rejected::retry_after(Reason::CircuitOpen, Duration::from_millis(2500));
        assert_eq!(r.to_string(), "circuit open; retry after 2.5s");
        assert_eq!(
            Rejected::retry_later(Reason::CircuitForcedOpen).to_string(),
            "circuit forced open"
        );
        assert!(Rejected::never(Reason::BulkheadFull).is_permanent());
        let r = Rejected::retry_after(Reason::CircuitOpen, Duration::from_micros(351_078));
        assert_eq!(r.to_string(), "circuit open; retry after 352ms");
        let r = Rejected::retry_after(Reason::CircuitOpen, Duration::from_millis(29_001));
        assert_eq!(r.to_string(), "circuit open; retry after 30s");
        assert_eq!(r.retry_after_hint(), Some(Duration::from_millis(29_001)));
    }

    #[test]
    fn downcasts_from_a_boxed_error() {
        let e: Box<dyn std::error::Error + Send + Sync> =
            Box::new(Rejected::retry_later(Reason::RateLimited));
        assert!(e.downcast_ref::<Rejected>().is_some());
    }
}

//! [`GrpcRules`] and [`Pushback`]: gRPC's retry design (A6) as data.

use super::code::GrpcCode;
use crate::classify::Action;
use std::time::Duration;

/// The longest pushback honoured unless set: 60 s.
pub const DEFAULT_MAX_PUSHBACK: Duration = Duration::from_secs(60);

/// A server's `grpc-retry-pushback-ms`, parsed as gRPC's retry design (A6)
/// reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushback {
    /// Retry after this long.
    After(Duration),
    /// Do not retry: the value was negative or not a number, which A6
    /// defines as the server asking the client not to retry at all.
    DoNotRetry,
}

impl Pushback {
    /// Reads a `grpc-retry-pushback-ms` value: a non-negative decimal
    /// number of milliseconds is [`After`](Self::After) (a number too big
    /// for a `u64` saturates); anything else, a negative number included,
    /// is [`DoNotRetry`](Self::DoNotRetry).
    ///
    /// ```
    /// use ballast_retry::grpc::Pushback;
    /// use std::time::Duration;
    ///
    /// assert_eq!(Pushback::parse(b"250"), Pushback::After(Duration::from_millis(250)));
    /// assert_eq!(Pushback::parse(b"-1"), Pushback::DoNotRetry);
    /// assert_eq!(Pushback::parse(b"soon"), Pushback::DoNotRetry);
    /// ```
    pub fn parse(value: &[u8]) -> Self {
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Pushback::DoNotRetry;
        }
        let ms = value
            .iter()
            .try_fold(0u64, |n, d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
            .unwrap_or(u64::MAX);
        Pushback::After(Duration::from_millis(ms))
    }
}

/// Which gRPC statuses are retried, following gRPC's retry design (A6):
///
/// - `retryableStatusCodes` is a configurable set, [`UNAVAILABLE`] only
///   unless set ([`retryable`](Self::retryable));
/// - a server's pushback (`grpc-retry-pushback-ms`) that is negative or
///   malformed means "do not retry", whatever the code;
/// - a valid pushback on a retryable code makes the retry wait at least
///   that long (at most [`max_pushback`](Self::max_pushback));
/// - `RESOURCE_EXHAUSTED` is not retried, as a quota usually does not
///   come back in a few hundred milliseconds, except when the server sent
///   a valid pushback, which says when it will
///   ([`resource_exhausted_with_pushback`](Self::resource_exhausted_with_pushback),
///   on unless turned off).
///
/// [`UNAVAILABLE`]: GrpcCode::Unavailable
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcRules {
    /// One bit per code.
    codes: u32,
    resource_exhausted_with_pushback: bool,
    max_pushback: Duration,
}

impl Default for GrpcRules {
    fn default() -> Self {
        Self {
            codes: bit(GrpcCode::Unavailable),
            resource_exhausted_with_pushback: true,
            max_pushback: DEFAULT_MAX_PUSHBACK,
        }
    }
}

fn bit(code: GrpcCode) -> u32 {
    1 << code.as_i32()
}

impl GrpcRules {
    /// Retries exactly `codes` (A6's `retryableStatusCodes`). `OK` in the
    /// set is ignored: a success is never retried.
    pub fn retryable(mut self, codes: impl IntoIterator<Item = GrpcCode>) -> Self {
        self.codes = codes.into_iter().fold(0, |set, c| set | bit(c)) & !bit(GrpcCode::Ok);
        self
    }

    /// Whether `RESOURCE_EXHAUSTED` with a valid pushback is retried
    /// (on unless set) even though it is not in the retryable set.
    pub fn resource_exhausted_with_pushback(mut self, yes: bool) -> Self {
        self.resource_exhausted_with_pushback = yes;
        self
    }

    /// The longest pushback honoured (60 s unless set): a longer one is
    /// cut to this.
    pub fn max_pushback(mut self, max: Duration) -> Self {
        self.max_pushback = max;
        self
    }

    /// Whether `code` is in the retryable set.
    pub fn is_retryable(&self, code: GrpcCode) -> bool {
        self.codes & bit(code) != 0
    }

    /// What to do with a call that ended with `code` and, if the server
    /// sent one, `pushback`.
    pub fn decide(&self, code: GrpcCode, pushback: Option<Pushback>) -> Action {
        match pushback {
            Some(Pushback::DoNotRetry) => Action::Return,
            Some(Pushback::After(wait))
                if self.is_retryable(code)
                    || (code == GrpcCode::ResourceExhausted
                        && self.resource_exhausted_with_pushback) =>
            {
                match wait.min(self.max_pushback) {
                    wait if wait.is_zero() => Action::Retry,
                    wait => Action::RetryAfter(wait),
                }
            }
            None if self.is_retryable(code) => Action::Retry,
            _ => Action::Return,
        }
    }
}

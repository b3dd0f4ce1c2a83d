//! A [`Rejected`] as a `tonic::Status` (feature `tonic`): code and
//! `grpc-retry-pushback-ms` after the [table](crate::answer#the-table),
//! so a refusal reaches a gRPC caller as what it is, not as a reset
//! stream or `UNKNOWN`.

use crate::answer::{Side, Verdict};
use crate::{BoxError, Rejected, RetryAfter};
use ::tonic::metadata::MetadataValue;
use ::tonic::{Code, Status};

/// The metadata key of gRPC's server pushback (the retry design, A6): how
/// many milliseconds a client waits before retrying; negative for "do not
/// retry".
pub const RETRY_PUSHBACK_MS: &str = "grpc-retry-pushback-ms";

impl Rejected {
    /// The gRPC code of this refusal, for a layer on `side` (see the
    /// [table](crate::answer#the-table)).
    pub fn grpc_code(&self, side: Side) -> Code {
        match self.verdict(side) {
            Verdict::TooMany => Code::ResourceExhausted,
            Verdict::Unavailable => Code::Unavailable,
            Verdict::Timeout => Code::DeadlineExceeded,
            Verdict::CallerNever => Code::InvalidArgument,
            Verdict::OursNever => Code::Internal,
        }
    }

    /// The `tonic::Status` for this refusal, for a layer on `side`: its
    /// [code](Self::grpc_code), its text as the message, and
    /// `grpc-retry-pushback-ms` when the wait is known (rounded up to whole
    /// milliseconds), `-1` when the refusal is permanent.
    ///
    /// ```
    /// use ballast_core::{Reason, Rejected, Side};
    /// use std::time::Duration;
    ///
    /// let open = Rejected::retry_after(Reason::CircuitOpen, Duration::from_millis(1500));
    /// let status = open.to_grpc_status(Side::Client);
    /// assert_eq!(status.code(), tonic::Code::Unavailable);
    /// assert_eq!(status.metadata().get("grpc-retry-pushback-ms").unwrap(), "1500");
    /// ```
    pub fn to_grpc_status(&self, side: Side) -> Status {
        let mut status = Status::new(self.grpc_code(side), self.to_string());
        let pushback = match self.retry_after_value() {
            RetryAfter::After(wait) => {
                let ms = wait.as_nanos().div_ceil(1_000_000);
                Some(i64::try_from(ms).unwrap_or(i64::MAX))
            }
            RetryAfter::Unknown => None,
            RetryAfter::Never => Some(-1),
        };
        if let Some(ms) = pushback {
            status
                .metadata_mut()
                .insert(RETRY_PUSHBACK_MS, MetadataValue::from(ms));
        }
        status
    }
}

/// `err` with a ballast refusal found in it ([`Rejected::find`]) replaced
/// by its [`Status`](Rejected::to_grpc_status) for `side`; any other error
/// unchanged.
///
/// tonic answers an error that is (or holds) a `Status` with that status.
/// Any other error from a server's layers resets the stream (the caller
/// sees `INTERNAL`, "h2 protocol error"), and a client channel's becomes
/// `UNKNOWN`. So map a tonic server's layer stack with `Side::Server`, or
/// a client channel's with `Side::Client`:
/// `ServiceBuilder::new().map_err(|e| grpc::status_error(e, Side::Server))`.
pub fn status_error(err: BoxError, side: Side) -> BoxError {
    match Rejected::find(&err) {
        Some(rejected) => Box::new(rejected.to_grpc_status(side)),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reason;
    use std::time::Duration;

    const EVERY_REASON: [Reason; 10] = [
        Reason::CircuitOpen,
        Reason::CircuitHalfOpenBusy,
        Reason::CircuitRecovering,
        Reason::CircuitForcedOpen,
        Reason::BulkheadFull,
        Reason::QueueFull,
        Reason::QueueTimeout,
        Reason::Overloaded,
        Reason::RateLimited,
        Reason::DeadlineExceeded,
    ];

    #[test]
    fn every_reason_and_kind_maps_as_the_table_says() {
        for reason in EVERY_REASON {
            let kinds = [
                Rejected::retry_after(reason, Duration::from_micros(2_000_001)),
                Rejected::retry_later(reason),
                Rejected::never(reason),
            ];
            for r in kinds {
                for side in [Side::Server, Side::Client] {
                    let status = r.to_grpc_status(side);
                    let expected = match (r.retry_after_value(), reason, side) {
                        (RetryAfter::Never, _, Side::Server) => Code::InvalidArgument,
                        (RetryAfter::Never, _, Side::Client) => Code::Internal,
                        (_, Reason::RateLimited, Side::Server) => Code::ResourceExhausted,
                        (_, Reason::DeadlineExceeded, _) => Code::DeadlineExceeded,
                        _ => Code::Unavailable,
                    };
                    assert_eq!(status.code(), expected, "{r:?} on {side:?}");
                    assert_eq!(status.message(), r.to_string());
                    let pushback = status
                        .metadata()
                        .get(RETRY_PUSHBACK_MS)
                        .and_then(|v| v.to_str().ok());
                    let want = match r.retry_after_value() {
                        RetryAfter::After(_) => Some("2001"),
                        RetryAfter::Unknown => None,
                        RetryAfter::Never => Some("-1"),
                    };
                    assert_eq!(pushback, want, "{r:?}");
                }
            }
        }
    }

    #[test]
    fn status_error_replaces_a_refusal_and_keeps_other_errors() {
        let err: BoxError = Box::new(Rejected::retry_later(Reason::RateLimited));
        let mapped = status_error(err, Side::Server);
        let status = mapped.downcast_ref::<Status>().expect("a status");
        assert_eq!(status.code(), Code::ResourceExhausted);
        let other = status_error("reset".into(), Side::Server);
        assert!(other.downcast_ref::<Status>().is_none());
        assert_eq!(other.to_string(), "reset");
    }
}

//! The `deadline.hop` span: what each hop received, used and passed on.

use std::time::Duration;
use tracing::Span;
use tracing::field::Empty;

/// The span's name.
pub const SPAN_NAME: &str = "deadline.hop";
/// Field: the budget the hop received, in microseconds (after the
/// server's own cap).
pub const BUDGET_RECEIVED_US: &str = "budget_received_us";
/// Field: how long the hop took from receiving the request to its
/// response, in microseconds.
pub const TIME_USED_US: &str = "time_used_us";
/// Field: the budget the hop's last outgoing call passed on, in
/// microseconds (after the network margin). Written by
/// [`SendDeadline`](super::SendDeadline) into the current span.
pub const BUDGET_PASSED_ON_US: &str = "budget_passed_on_us";
/// Field: how the hop ended: `ok`, `expired_on_arrival`, `cancelled`,
/// `malformed`, or `dropped` (the caller hung up first).
pub const OUTCOME: &str = "outcome";

/// A new hop span with every field declared and empty.
pub(crate) fn hop_span() -> Span {
    tracing::info_span!(
        "deadline.hop",
        budget_received_us = Empty,
        time_used_us = Empty,
        budget_passed_on_us = Empty,
        outcome = Empty,
    )
}

/// A duration as whole microseconds for a span field.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

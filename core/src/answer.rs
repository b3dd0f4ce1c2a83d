//! What a server answers for a [`Rejected`]: one table for every
//! [`Reason`], both sides and every [`RetryAfter`] kind.
//!
//! The HTTP side is [`Rejected::http_status`] and
//! `Rejected::to_http_response` (feature `http`), the gRPC side
//! `Rejected::grpc_code` and `Rejected::to_grpc_status` (feature `tonic`).
//! Both read this one classification, so they never disagree.
//!
//! # Which side refused
//!
//! The same refusal means different things depending on whose call it
//! guards, so every mapping takes a [`Side`]:
//!
//! - [`Side::Server`]: a layer in front of this server refused its
//!   caller's request (a rate limit per client, load shedding, the
//!   caller's expired deadline). The caller is told what it did.
//! - [`Side::Client`]: a layer around one of this server's own calls to a
//!   dependency refused it (the dependency's breaker is open, our
//!   client-side rate limit toward it is spent). The caller did nothing
//!   wrong: it must never see a 429 that blames it, only that we cannot
//!   serve it now.
//!
//! An error handler on the server's own stack (axum's `HandleErrorLayer`,
//! a tonic server layer) passes `Side::Server`; code that answers for a
//! failed call to a dependency passes `Side::Client`.
//!
//! # The table
//!
//! `Retry-After` (HTTP, whole seconds rounded up, at least 1) and
//! `grpc-retry-pushback-ms` (gRPC, milliseconds rounded up) are sent
//! whenever the refusal knows its wait ([`RetryAfter::After`]); with
//! [`RetryAfter::Unknown`] neither is sent; with [`RetryAfter::Never`]
//! there is no `Retry-After` and the pushback is `-1`, which gRPC's retry
//! design reads as "do not retry".
//!
//! | refusal | retry-after | server side | client side |
//! |---|---|---|---|
//! | [`Reason::RateLimited`] | `After(d)` | 429 + `Retry-After`; `RESOURCE_EXHAUSTED` + pushback | 503 + `Retry-After`; `UNAVAILABLE` + pushback |
//! | [`Reason::RateLimited`] | `Unknown` | 429; `RESOURCE_EXHAUSTED` | 503; `UNAVAILABLE` |
//! | [`Reason::CircuitOpen`], [`Reason::CircuitHalfOpenBusy`], [`Reason::CircuitRecovering`], [`Reason::CircuitForcedOpen`] | `After(d)` / `Unknown` | 503 (+ `Retry-After`); `UNAVAILABLE` (+ pushback) | the same |
//! | [`Reason::BulkheadFull`], [`Reason::QueueFull`], [`Reason::QueueTimeout`], [`Reason::Overloaded`] | `After(d)` / `Unknown` | 503 (+ `Retry-After`); `UNAVAILABLE` (+ pushback) | the same |
//! | [`Reason::DeadlineExceeded`] | `After(d)` / `Unknown` | 504 (+ `Retry-After`); `DEADLINE_EXCEEDED` (+ pushback) | the same |
//! | any reason | `Never` | 400; `INVALID_ARGUMENT`, pushback `-1`: the caller's request as it is can never pass | 500; `INTERNAL`, pushback `-1`: our own request can never pass, which no caller can fix or wait out |
//!
//! A permanent refusal is never a 503 or a 429: both invite a retry that
//! cannot succeed.

use crate::{Reason, Rejected, RetryAfter};

/// Which side of this server a refusing layer guards; see the
/// [module docs](self) for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// A layer in front of this server refused its caller's request.
    Server,
    /// A layer around this server's own call to a dependency refused it.
    Client,
}

/// The answer the table gives, before it is spelled in HTTP or gRPC.
#[cfg_attr(not(any(feature = "http", feature = "tonic")), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The caller sent too much: 429, `RESOURCE_EXHAUSTED`.
    TooMany,
    /// We cannot serve now: 503, `UNAVAILABLE`.
    Unavailable,
    /// Out of time: 504, `DEADLINE_EXCEEDED`.
    Timeout,
    /// The caller's request can never pass: 400, `INVALID_ARGUMENT`.
    CallerNever,
    /// Our own request can never pass: 500, `INTERNAL`.
    OursNever,
}

#[cfg_attr(not(any(feature = "http", feature = "tonic")), allow(dead_code))]
impl Rejected {
    pub(crate) fn verdict(&self, side: Side) -> Verdict {
        if self.retry_after_value() == RetryAfter::Never {
            return match side {
                Side::Server => Verdict::CallerNever,
                Side::Client => Verdict::OursNever,
            };
        }
        match (self.reason(), side) {
            (Reason::RateLimited, Side::Server) => Verdict::TooMany,
            (Reason::DeadlineExceeded, _) => Verdict::Timeout,
            _ => Verdict::Unavailable,
        }
    }
}

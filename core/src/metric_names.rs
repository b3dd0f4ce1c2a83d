//! The names the family reports under through the
//! [`metrics`](https://docs.rs/metrics) facade (feature `metrics` of each
//! pattern crate), as one table, so a dashboard reads every pattern the
//! same way.
//!
//! Every name is `ballast_<pattern>_<what>`; every series carries a `name`
//! label, the configured name of the breaker, bulkhead or limiter; other
//! labels say which kind of event. Counters end in `_total`. Install the
//! recorder (a Prometheus or OpenTelemetry exporter) before building the
//! policies: each one registers its series once, when it is built, and
//! its hot path then only bumps a handle.
//!
//! | metric | kind | labels | what it counts |
//! |---|---|---|---|
//! | [`CIRCUIT_BREAKER_CALLS`] | counter | `name`, `outcome` = `success` / `failure` / `ignored` | admitted calls, by how they counted |
//! | [`CIRCUIT_BREAKER_REFUSALS`] | counter | `name`, `reason` (see below) | calls the breaker refused |
//! | [`CIRCUIT_BREAKER_STATE`] | gauge | `name`, `state` = `closed` / `open` / `half_open` / `recovering` / `disabled` / `forced_open` / `metrics_only` | 1 for the current state, 0 for the others |
//! | [`CIRCUIT_BREAKER_TRANSITIONS`] | counter | `name`, `to` = a state as above | state changes, by the state entered |
//! | [`CIRCUIT_BREAKER_KEYS`] | gauge | `name`, `state` = a state as above | a keyed registry's keys whose breaker is in that state now |
//! | [`BULKHEAD_CALLS`] | counter | `name` | calls admitted (given a permit, or run over the limit in shadow mode) |
//! | [`BULKHEAD_REFUSALS`] | counter | `name`, `reason` (see below) | calls the bulkhead refused |
//! | [`BULKHEAD_IN_FLIGHT`] | gauge | `name` | calls holding a permit now |
//! | [`BULKHEAD_LIMIT`] | gauge | `name` | the most calls that may be in flight (an adaptive limiter's: set again at each change) |
//! | [`DEADLINE_CALLS`] | counter | `name`, `outcome` = `within` / `exceeded` / `refused` / `unbounded` | calls through a timeout layer: ended before their deadline (with any result), cancelled at it, refused before they started because it had passed, or had neither a timeout nor a deadline to enforce |
//! | [`RATELIMIT_CALLS`] | counter | `name` | requests a rate limiter admitted (at once or after a wait) |
//! | [`RATELIMIT_REFUSALS`] | counter | `name`, `reason` (see below) | requests a rate limiter refused (in shadow mode: would have refused, and let through) |
//! | [`RETRY_CALLS`] | counter | `name`, `outcome` = `success` / `failure` / `gave_up` / `expired` | calls, by how they ended: the first result not retried was a success or a failure, or a retryable result was returned because no further attempt was allowed, or (the plain helper) the deadline had passed before the first attempt |
//! | [`RETRY_RETRIES`] | counter | `name` | attempts beyond the first |
//! | [`RETRY_GIVE_UPS`] | counter | `name`, `reason` = `attempts` / `not_cloneable` / `deadline` / `max_total_time` / `budget` / `refused` | calls that stopped with a retryable result, by why no further attempt was allowed |
//! | [`RETRY_BUDGET_REFUSALS`] | counter | `name` | retries the budget refused |
//! | [`RETRY_BUDGET_LEFT`] | gauge | `name` | retries the budget would still allow, read at each retry decision (a withdrawal or a refusal), not on every call |
//! | [`RETRY_HEDGES`] | counter | `name` (the hedge policy's) | backup requests sent |
//!
//! `reason` is [`reason_label`] of the refusal's [`Reason`]: the variant
//! in snake case (`circuit_open`, `bulkhead_full`, `queue_timeout`,
//! `deadline_exceeded`, ...).
//!
//! A keyed circuit breaker registry (one breaker per host, tenant, ...)
//! reports under its config's name, never per key, so its series stay
//! as few as one breaker's however many keys it holds: `CALLS`,
//! `REFUSALS` and `TRANSITIONS` summed over its keys, and
//! `CIRCUIT_BREAKER_KEYS`, how many keys are in each state, instead of
//! `CIRCUIT_BREAKER_STATE` (so `state="open"` is the number of keys whose
//! circuit is open; the gauges add up to the keys held, and follow each
//! transition, new key and eviction). Per-key names given with
//! `KeyedBreakers::with_names` name events and logs, not series. The
//! registry's overflow breaker (new keys share it while every slot holds
//! a live key) reports as a breaker of its own, named `<name>/overflow`,
//! with `CIRCUIT_BREAKER_STATE`. Which key is in which state is in the
//! registry's `metrics()` snapshot and its state-change listeners.
//!
//! The `BULKHEAD_*` series are reported by the fixed, partitioned and
//! adaptive bulkheads and the load shedder alike (the adaptive limiter
//! and the shedder refuse with `overloaded`; a shedder's limit is its
//! `max_in_flight`; a partitioned bulkhead reports as a whole, not per
//! partition). Calls a
//! bulkhead in shadow mode lets through over its limit count as calls,
//! not refusals.
//!
//! Reported: the circuit breaker; the fixed, partitioned and adaptive
//! bulkheads and the load shedder; retry and hedging; the rate limiters
//! (direct and keyed, whatever their algorithm, and Redis); the
//! deadline's timeout layer (also inside `ClientDeadlineLayer`). Not
//! reported: the saga orchestrator and the outbox, and the deadline's
//! propagation layers on their own.

use crate::Reason;

/// The `reason` label of a refusal: its [`Reason`] in snake case.
pub fn reason_label(reason: Reason) -> &'static str {
    match reason {
        Reason::CircuitOpen => "circuit_open",
        Reason::CircuitHalfOpenBusy => "circuit_half_open_busy",
        Reason::CircuitRecovering => "circuit_recovering",
        Reason::CircuitForcedOpen => "circuit_forced_open",
        Reason::BulkheadFull => "bulkhead_full",
        Reason::QueueFull => "queue_full",
        Reason::QueueTimeout => "queue_timeout",
        Reason::Overloaded => "overloaded",
        Reason::RateLimited => "rate_limited",
        Reason::DeadlineExceeded => "deadline_exceeded",
    }
}

/// Calls a bulkhead admitted (counter).
pub const BULKHEAD_CALLS: &str = "ballast_bulkhead_calls_total";
/// Calls a bulkhead refused, by reason (counter).
pub const BULKHEAD_REFUSALS: &str = "ballast_bulkhead_refusals_total";
/// Calls holding a bulkhead's permit now (gauge).
pub const BULKHEAD_IN_FLIGHT: &str = "ballast_bulkhead_in_flight";
/// The most calls a bulkhead lets in flight (gauge).
pub const BULKHEAD_LIMIT: &str = "ballast_bulkhead_limit";

/// Calls through a timeout layer, by outcome (counter).
pub const DEADLINE_CALLS: &str = "ballast_deadline_calls_total";

/// Requests a rate limiter admitted (counter).
pub const RATELIMIT_CALLS: &str = "ballast_ratelimit_calls_total";
/// Requests a rate limiter refused, by reason (counter).
pub const RATELIMIT_REFUSALS: &str = "ballast_ratelimit_refusals_total";

/// Calls through a retry policy, by outcome (counter).
pub const RETRY_CALLS: &str = "ballast_retry_calls_total";
/// Attempts beyond the first (counter).
pub const RETRY_RETRIES: &str = "ballast_retry_retries_total";
/// Calls that stopped with a retryable result, by reason (counter).
pub const RETRY_GIVE_UPS: &str = "ballast_retry_give_ups_total";
/// Retries the retry budget refused (counter).
pub const RETRY_BUDGET_REFUSALS: &str = "ballast_retry_budget_refusals_total";
/// Retries the budget would still allow, read at each retry decision (gauge).
pub const RETRY_BUDGET_LEFT: &str = "ballast_retry_budget_left";
/// Backup requests a hedge policy sent (counter).
pub const RETRY_HEDGES: &str = "ballast_retry_hedges_total";

/// Admitted calls of a circuit breaker, by outcome (counter).
pub const CIRCUIT_BREAKER_CALLS: &str = "ballast_circuit_breaker_calls_total";
/// Calls a circuit breaker refused, by reason (counter).
pub const CIRCUIT_BREAKER_REFUSALS: &str = "ballast_circuit_breaker_refusals_total";
/// A circuit breaker's state, one-hot by the `state` label (gauge).
pub const CIRCUIT_BREAKER_STATE: &str = "ballast_circuit_breaker_state";
/// Keys of a keyed circuit breaker registry in each state (gauge).
pub const CIRCUIT_BREAKER_KEYS: &str = "ballast_circuit_breaker_keys";
/// A circuit breaker's state changes, by the state entered (counter).
pub const CIRCUIT_BREAKER_TRANSITIONS: &str = "ballast_circuit_breaker_transitions_total";

/// The label every series carries: the policy's configured name.
pub const LABEL_NAME: &str = "name";

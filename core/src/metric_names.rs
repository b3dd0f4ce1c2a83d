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
//! | [`CIRCUIT_BREAKER_REFUSALS`] | counter | `name`, `reason` = a [`Reason`](crate::Reason)'s `as_str` | calls the breaker refused |
//! | [`CIRCUIT_BREAKER_STATE`] | gauge | `name`, `state` = `closed` / `open` / `half_open` / `recovering` / `disabled` / `forced_open` / `metrics_only` | 1 for the current state, 0 for the others |
//! | [`CIRCUIT_BREAKER_TRANSITIONS`] | counter | `name`, `to` = a state as above | state changes, by the state entered |
//!
//! The other patterns' series (bulkhead limit and in flight, retries and
//! budget left, hedges, rate-limit decisions, deadline outcomes) are not
//! reported yet; their names will follow the same scheme.

/// Admitted calls of a circuit breaker, by outcome (counter).
pub const CIRCUIT_BREAKER_CALLS: &str = "ballast_circuit_breaker_calls_total";
/// Calls a circuit breaker refused, by reason (counter).
pub const CIRCUIT_BREAKER_REFUSALS: &str = "ballast_circuit_breaker_refusals_total";
/// A circuit breaker's state, one-hot by the `state` label (gauge).
pub const CIRCUIT_BREAKER_STATE: &str = "ballast_circuit_breaker_state";
/// A circuit breaker's state changes, by the state entered (counter).
pub const CIRCUIT_BREAKER_TRANSITIONS: &str = "ballast_circuit_breaker_transitions_total";

/// The label every series carries: the policy's configured name.
pub const LABEL_NAME: &str = "name";

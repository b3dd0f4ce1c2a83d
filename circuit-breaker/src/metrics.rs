//! A point-in-time view of a breaker, for dashboards and health checks.

use crate::state::State;

/// What a breaker holds at one moment.
///
/// `calls`, `failures` and `slow_calls` are the contents of the sliding
/// window (it is emptied on every transition to closed); `rejected` counts
/// every call refused since the breaker was built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// The current state.
    pub state: State,
    /// Calls in the sliding window.
    pub calls: u64,
    /// Failed calls in the sliding window.
    pub failures: u64,
    /// Slow calls in the sliding window.
    pub slow_calls: u64,
    /// `failures / calls` in percent (0 with no calls).
    pub failure_rate: f64,
    /// `slow_calls / calls` in percent (0 with no calls).
    pub slow_call_rate: f64,
    /// Calls refused since the breaker was built.
    pub rejected: u64,
    /// Probe calls currently in flight or done in this half-open stay.
    pub half_open_probes: u64,
    /// Trips since the circuit last closed (drives the open backoff).
    pub consecutive_trips: u32,
}

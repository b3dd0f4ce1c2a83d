//! Helpers shared by the integration tests. Each test binary uses only
//! some of them.
#![allow(dead_code)]

use ballast_circuit_breaker::{
    BoxError, Breaker, CallError, Config, ConfigBuilder, Rejected, SlidingWindow, State,
    StateChange,
};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the breakers of [`builder`] stay open.
pub const WAIT: Duration = Duration::from_secs(30);

/// Count window of 10, trips at 50% after 4 calls, [`WAIT`] open,
/// `permits` half-open probes; unnamed.
pub fn builder(permits: u32) -> ConfigBuilder {
    Config::builder()
        .sliding_window(SlidingWindow::count(10))
        .minimum_calls(4)
        .failure_rate_threshold(50.0)
        .wait_in_open(WAIT)
        .half_open_permits(permits)
}

/// A breaker with the config of [`builder`].
pub fn breaker(permits: u32) -> Breaker {
    Breaker::new(builder(permits).build().unwrap())
}

/// A call through `b` whose operation fails with an `io::Error`.
pub async fn fail(b: &Breaker) -> Result<(), CallError<io::Error>> {
    b.call(|| async { Err(io::Error::other("down")) }).await
}

/// A call through `b` whose operation succeeds.
pub async fn succeed(b: &Breaker) -> Result<(), CallError<io::Error>> {
    b.call(|| async { Ok(()) }).await
}

/// Four failed permits, which must open a breaker of [`builder`].
pub fn trip(b: &Breaker) {
    for _ in 0..4 {
        b.try_acquire().unwrap().failure();
    }
    assert_eq!(b.state(), State::Open);
}

/// The state changes a listener has recorded, oldest first.
pub type Log = Arc<Mutex<Vec<StateChange>>>;

/// Adds a listener to `b` that records every state change into the log returned.
pub fn record_events(b: &Breaker) -> Log {
    let log = Log::default();
    let sink = log.clone();
    b.on_state_change(move |e| sink.lock().unwrap().push(e.clone()));
    log
}

/// The breaker's `Rejected` inside a layered service's error, which must be one.
pub fn rejection(err: &BoxError) -> &Rejected {
    err.downcast_ref::<Rejected>()
        .unwrap_or_else(|| panic!("expected a rejection, got {err}"))
}

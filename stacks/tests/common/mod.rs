//! A dependency whose behaviour each test scripts, and the ballast layers
//! built with small settings.
#![allow(dead_code)] // each test file uses part of it

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tower::service_fn;
use tower::util::BoxCloneSyncService;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub const MS: Duration = Duration::from_millis(1);

/// What the dependency does with one call.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// Answers `Ok(n)` (n = the call's number) after this long.
    Ok(Duration),
    /// Fails with its own error after this long.
    Fail(Duration),
}

/// What the dependency saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub calls: AtomicUsize,
    pub in_flight: AtomicUsize,
    /// Calls whose future was dropped before it finished.
    pub cancelled: AtomicUsize,
}

impl Seen {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
    pub fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// The dependency's own error: never a ballast refusal.
#[derive(Debug)]
pub struct DepError(pub usize);

impl std::fmt::Display for DepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dependency failed call {}", self.0)
    }
}

impl std::error::Error for DepError {}

/// Counts a call in flight until dropped; a drop before `done` is a
/// cancellation.
struct InFlight {
    seen: Arc<Seen>,
    done: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.seen.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.done {
            self.seen.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub type Dep = BoxCloneSyncService<u32, usize, BoxError>;

/// A dependency that does `script(n)` for its n-th call (from 0).
pub fn dep(script: impl Fn(usize) -> Step + Send + Sync + 'static) -> (Dep, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let script = Arc::new(script);
    let svc = service_fn({
        let seen = seen.clone();
        move |_req: u32| {
            let n = seen.calls.fetch_add(1, Ordering::SeqCst);
            seen.in_flight.fetch_add(1, Ordering::SeqCst);
            let guard = InFlight {
                seen: seen.clone(),
                done: false,
            };
            let step = script(n);
            async move {
                let mut guard = guard;
                let result = match step {
                    Step::Ok(d) => {
                        tokio::time::sleep(d).await;
                        Ok(n)
                    }
                    Step::Fail(d) => {
                        tokio::time::sleep(d).await;
                        Err(Box::new(DepError(n)) as BoxError)
                    }
                };
                guard.done = true;
                result
            }
        }
    });
    (BoxCloneSyncService::new(svc), seen)
}

/// Up to `attempts` attempts with a constant 5 ms backoff, no jitter, no
/// budget (the budget has its own tests; here it would only add noise).
pub fn retry_config(attempts: u32) -> ballast_retry::Config {
    ballast_retry::Config::builder()
        .max_attempts(attempts)
        .backoff(
            ballast_retry::Backoff::constant(5 * MS)
                .jitter(ballast_retry::Jitter::None)
                .build()
                .unwrap(),
        )
        .no_budget()
        .build()
        .unwrap()
}

/// The ballast refusal in `err`, if a policy refused.
pub fn rejected(err: &BoxError) -> Option<&ballast_core::Rejected> {
    err.downcast_ref::<ballast_core::Rejected>()
}

/// The reason of the ballast refusal in `err`; panics with the error when
/// it is not one.
pub fn reason(err: &BoxError) -> ballast_core::Reason {
    match rejected(err) {
        Some(r) => r.reason(),
        None => panic!("expected a ballast refusal, got {err}"),
    }
}

/// Milliseconds since `start`, on tokio's clock.
pub fn ms_since(start: Instant) -> u128 {
    start.elapsed().as_millis()
}

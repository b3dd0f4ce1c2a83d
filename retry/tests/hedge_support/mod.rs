//! Helpers shared by the hedging tests: a replica whose attempts take a
//! scripted time and log whether they finished or were dropped.
#![allow(dead_code)]

use ballast_retry::{HedgeConfig, HedgeConfigBuilder, HedgeDelay};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tower::Service;

pub const MS: Duration = Duration::from_millis(1);

/// A fixed delay, no budget.
pub fn fixed(delay: Duration) -> HedgeConfigBuilder {
    HedgeConfig::builder()
        .delay(HedgeDelay::Fixed(delay))
        .no_budget()
}

/// One call's request: its first attempt takes `first`, every backup
/// `rest`. Clones (the backups' copies) share one log.
#[derive(Clone, Debug)]
pub struct Job {
    first: Duration,
    rest: Duration,
    log: Arc<JobLog>,
}

#[derive(Debug, Default)]
struct JobLog {
    started: AtomicU32,
    cancelled: Mutex<Vec<u32>>,
    finished: Mutex<Vec<u32>>,
}

// A job may always be sent again.
impl ballast_retry::Resendable for Job {}

impl Job {
    pub fn new(first: Duration, rest: Duration) -> Self {
        Self {
            first,
            rest,
            log: Arc::default(),
        }
    }

    /// Attempts started (the first is attempt 0).
    pub fn started(&self) -> u32 {
        self.log.started.load(Ordering::SeqCst)
    }

    /// Attempts dropped before they finished, in order.
    pub fn cancelled(&self) -> Vec<u32> {
        let mut v = self.log.cancelled.lock().unwrap().clone();
        v.sort_unstable();
        v
    }

    /// Attempts that ran to their answer.
    pub fn finished(&self) -> Vec<u32> {
        self.log.finished.lock().unwrap().clone()
    }

    /// One attempt: answers with its number after its time.
    pub fn run(self) -> impl Future<Output = Result<u32, io::Error>> + Send + 'static {
        let n = self.log.started.fetch_add(1, Ordering::SeqCst);
        let took = if n == 0 { self.first } else { self.rest };
        let guard = Guard {
            n,
            log: self.log,
            done: false,
        };
        async move {
            // Moves the whole guard in (not only the field written below).
            let mut guard = guard;
            tokio::time::sleep(took).await;
            guard.done = true;
            Ok(n)
        }
    }
}

/// Logs on drop whether its attempt finished.
struct Guard {
    n: u32,
    log: Arc<JobLog>,
    done: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let list = if self.done {
            &self.log.finished
        } else {
            &self.log.cancelled
        };
        list.lock().unwrap().push(self.n);
    }
}

/// A dependency running [`Job`]s; counts every call it gets.
#[derive(Clone, Debug, Default)]
pub struct Replica {
    pub calls: Arc<AtomicU32>,
}

impl Replica {
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Service<Job> for Replica {
    type Response = u32;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<u32, io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, job: Job) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(job.run())
    }
}

/// Polls `fut` once, with a waker that does nothing (tests advance the
/// paused clock and poll again).
pub fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

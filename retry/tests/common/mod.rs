//! Helpers shared by the integration tests. Each test binary uses only
//! some of them.
#![allow(dead_code)]

use ballast_retry::{Backoff, BoxError, Config, ConfigBuilder, Jitter};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::Service;

pub const MS: Duration = Duration::from_millis(1);

/// 5 attempts, constant 100 ms without jitter, no budget, 10 ms per attempt.
pub fn builder() -> ConfigBuilder {
    Config::builder()
        .max_attempts(5)
        .backoff(
            Backoff::constant(100 * MS)
                .jitter(Jitter::None)
                .build()
                .unwrap(),
        )
        .no_budget()
}

/// A dependency that answers from a script (then with its last entry),
/// taking `latency` per call, and logs when each call started.
#[derive(Clone)]
pub struct Scripted {
    script: Arc<Mutex<Vec<Result<u16, io::ErrorKind>>>>,
    pub starts: Arc<Mutex<Vec<Instant>>>,
    latency: Duration,
    origin: Instant,
}

impl Scripted {
    pub fn new(script: &[Result<u16, io::ErrorKind>]) -> Self {
        let mut script = script.to_vec();
        script.reverse();
        Self {
            script: Arc::new(Mutex::new(script)),
            starts: Arc::default(),
            latency: Duration::ZERO,
            origin: Instant::now(),
        }
    }

    /// Always fails with `ConnectionRefused`.
    pub fn down() -> Self {
        Self::new(&[Err(io::ErrorKind::ConnectionRefused)])
    }

    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// When each call started, in ms since the dependency was made.
    pub fn start_ms(&self) -> Vec<u128> {
        let starts = self.starts.lock().unwrap();
        starts
            .iter()
            .map(|s| (*s - self.origin).as_millis())
            .collect()
    }

    pub fn calls(&self) -> usize {
        self.starts.lock().unwrap().len()
    }
}

impl Service<&'static str> for Scripted {
    type Response = u16;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<u16, io::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), io::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: &'static str) -> Self::Future {
        self.starts.lock().unwrap().push(Instant::now());
        let mut script = self.script.lock().unwrap();
        let answer = if script.len() > 1 {
            script.pop().unwrap()
        } else {
            script[0]
        };
        let latency = self.latency;
        Box::pin(async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            answer.map_err(io::Error::from)
        })
    }
}

/// The error's `io::ErrorKind`, if it is the dependency's own.
pub fn io_kind(err: &BoxError) -> Option<io::ErrorKind> {
    err.downcast_ref::<io::Error>().map(io::Error::kind)
}

//! The plain async helper, for code without tower.

use crate::breaker::Breaker;
use crate::classify::{Classifier, ErrorsAreFailures};
use crate::error::CallError;
use crate::permit::Guard;
use std::future::Future;

impl Breaker {
    /// Runs `f` through the breaker: refused with
    /// [`CallError::Rejected`] while the circuit is open, otherwise called,
    /// with every `Err` counted as a failure.
    ///
    /// Dropping the returned future before it finishes records a
    /// cancellation; a panic inside `f` records a failure.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use ballast_circuit_breaker::{Breaker, CallError, Config};
    ///
    /// let breaker = Breaker::new(Config::default());
    /// let answer = breaker.call(|| async { Ok::<_, std::io::Error>(42) }).await;
    /// assert_eq!(answer.unwrap(), 42);
    /// # }
    /// ```
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_classified(&ErrorsAreFailures, f).await
    }

    /// Like [`call`](Self::call), with `classifier` deciding how the
    /// result counts.
    pub async fn call_classified<C, F, Fut, T, E>(
        &self,
        classifier: &C,
        f: F,
    ) -> Result<T, CallError<E>>
    where
        C: Classifier<T, E>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let shared = &*self.shared;
        let ticket = shared
            .core
            .try_acquire(&shared.clock)
            .map_err(CallError::Rejected)?;
        let mut guard = Guard::new(shared, ticket);
        let result = f().await;
        guard.finish(classifier.classify(&result));
        result.map_err(CallError::Inner)
    }
}

//! [`retry`]: the plain async helper, for code without tower.

use crate::classify::{Action, Classifier};
use crate::error::{CallError, deadline_exceeded};
use crate::plan::{Next, Tracker};
use crate::policy::Policy;
use crate::refusal;
use ballast_deadline::Deadline;
use std::future::Future;

/// Runs `op` under `policy`: once, then again after each result the
/// policy's classifier calls transient, until one is not, or the attempts,
/// the budget, the total time or the task's deadline
/// ([`Deadline::current`]) run out.
///
/// Whenever it stops retrying (attempts used up, budget spent, deadline
/// or total time too close), the last attempt's own outcome comes back:
/// its error as [`CallError::Inner`], at once, without waiting out the
/// time that is left.
///
/// An error that is a ballast refusal (`op` calling through another
/// ballast policy: `E` is a [`Rejected`](ballast_core::Rejected), a boxed
/// error or an `io::Error` holding one) is retried only as the refusal
/// allows: never when permanent, not before its retry-after, not at all
/// when that is past the deadline or the total time limit. When the call
/// ends on a refusal after an attempt that was not refused, that
/// attempt's outcome comes back instead. Only when the deadline had already passed before
/// the first attempt is `op` not run and the call ends with the
/// deadline's rejection, [`CallError::Rejected`] with
/// [`Reason::DeadlineExceeded`](ballast_core::Reason::DeadlineExceeded).
/// Dropping the future cancels the attempt or the backoff in progress.
///
/// ```
/// use ballast_retry::{Backoff, Config, Policy, RetryErrors, retry};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let policy = Policy::new(
///     Config::builder()
///         .max_attempts(3)
///         .backoff(Backoff::constant(Duration::from_millis(10)).build()?)
///         .build()?,
///     RetryErrors,
/// );
/// let calls = AtomicU32::new(0);
/// let answer = retry(&policy, || async {
///     match calls.fetch_add(1, Ordering::Relaxed) {
///         0 => Err(std::io::Error::other("connection reset")),
///         _ => Ok(42),
///     }
/// })
/// .await?;
/// assert_eq!(answer, 42);
/// assert_eq!(policy.metrics().retries, 1);
/// # Ok(()) }
/// ```
pub async fn retry<C, F, Fut, T, E>(policy: &Policy<C>, mut op: F) -> Result<T, CallError<E>>
where
    C: Classifier<T, E>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: 'static,
{
    let shared = &*policy.shared;
    shared.begin();
    let mut tracker = Tracker::start(shared, Deadline::current());
    if tracker.expired(shared) {
        return Err(CallError::Rejected(deadline_exceeded()));
    }
    // The latest outcome that was not a refusal, once the call retries.
    let mut last_real: Option<Result<T, E>> = None;
    loop {
        let result = op().await;
        let action = shared.classifier.classify(&result);
        if action == Action::Return && last_real.is_none() {
            #[cfg(feature = "metrics")]
            shared.export.returned(result.is_ok());
            return result.map_err(CallError::Inner);
        }
        let refusal = match &result {
            Ok(_) => None,
            Err(e) => refusal::of(e),
        };
        let refused = refusal.is_some();
        // `true`: the helper makes every attempt anew, so it can always
        // "clone" the request.
        match tracker.after(shared, action, refusal, true) {
            // Stopping hands back the last real outcome.
            next @ (Next::Return | Next::Stop(_)) => {
                let real = if refused {
                    last_real.unwrap_or(result)
                } else {
                    result
                };
                // A give-up was counted when the tracker stopped.
                #[cfg(feature = "metrics")]
                if next == Next::Return {
                    shared.export.returned(real.is_ok());
                }
                #[cfg(not(feature = "metrics"))]
                let _ = next;
                return real.map_err(CallError::Inner);
            }
            Next::Retry(delay) => {
                if refused {
                    drop(result);
                } else {
                    last_real = Some(result);
                }
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                tracker.attempt_starting(shared);
            }
        }
    }
}

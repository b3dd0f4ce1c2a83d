//! [`within`]: the plain async helper.

use crate::deadline::IntoDeadline;
use crate::future::deadline_exceeded;
use ballast_core::Rejected;
use std::future::Future;
use tokio::time::Instant;

/// Runs `fut` with a deadline: `budget` is a [`Deadline`](crate::Deadline),
/// a tokio `Instant` or a `Duration` from now.
///
/// The deadline enforced is the earlier of `budget` and the task's current
/// deadline (a callee never extends its caller's budget), and `fut` runs
/// inside [`Deadline::scope`](crate::Deadline::scope) with it. If it has
/// already passed, `fut` is never polled. If it passes while `fut` runs,
/// `fut` is dropped (cancelling its work). Either way the error is a
/// [`Rejected`] with [`Reason::DeadlineExceeded`](ballast_core::Reason::DeadlineExceeded).
///
/// ```
/// use ballast_deadline::{Reason, within};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let fast = within(Duration::from_millis(100), async { 42 }).await;
/// assert_eq!(fast, Ok(42));
///
/// let slow = within(Duration::from_millis(100), tokio::time::sleep(Duration::from_secs(1))).await;
/// assert_eq!(slow.unwrap_err().reason(), Reason::DeadlineExceeded);
/// # }
/// ```
pub async fn within<F: Future>(budget: impl IntoDeadline, fut: F) -> Result<F::Output, Rejected> {
    let scoped = budget.into_deadline().scope(fut);
    let deadline = scoped.deadline();
    let now = Instant::now();
    if deadline.is_expired_at(now) {
        tracing::debug!(
            overdue = ?now.saturating_duration_since(deadline.instant()),
            "deadline already passed; work refused before it started"
        );
        return Err(deadline_exceeded());
    }
    let budget = deadline.remaining_at(now);
    tokio::time::timeout_at(deadline.instant(), scoped)
        .await
        .map_err(|_| {
            tracing::debug!(budget = ?budget, "deadline passed; work cancelled");
            deadline_exceeded()
        })
}

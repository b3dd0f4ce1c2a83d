//! [`hedge`]: the plain async helper, for code without tower.

use super::policy::{HedgePolicy, HedgeShared};
use super::race::{Launch, Race};
use ballast_deadline::Deadline;
use std::future::Future;
use std::task::{Context, Poll};

/// Runs `op` under `policy`: once, then, if that attempt has not answered
/// after the policy's delay, again (up to the policy's
/// [`max_hedges`](crate::HedgeConfig::max_hedges) times, each drawing on
/// the hedge budget and leaving room before the task's deadline,
/// [`Deadline::current`]). The first attempt to answer, with a success or
/// an error, gives the result; the others are dropped at once.
///
/// An attempt whose error is a refusal from another ballast policy (`E`
/// is a [`Rejected`](ballast_core::Rejected), a boxed error or an
/// `io::Error` holding one) does not win while another attempt is in
/// flight, and no backup follows it.
///
/// Only for idempotent operations: a dropped attempt may already have
/// reached the dependency. Dropping the returned future drops every
/// attempt in progress.
///
/// ```
/// use ballast_retry::{HedgeConfig, HedgeDelay, HedgePolicy, hedge};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let policy = HedgePolicy::new(
///     HedgeConfig::builder()
///         .delay(HedgeDelay::Fixed(Duration::from_millis(50)))
///         .build()?,
/// );
/// let calls = AtomicU32::new(0);
/// let answer = hedge(&policy, || async {
///     // The first attempt is stuck; the backup answers in 10 ms.
///     let n = calls.fetch_add(1, Ordering::Relaxed);
///     let took = if n == 0 { Duration::from_secs(5) } else { Duration::from_millis(10) };
///     tokio::time::sleep(took).await;
///     Ok::<_, std::io::Error>(n)
/// })
/// .await?;
/// assert_eq!(answer, 1);
/// let m = policy.metrics();
/// assert_eq!((m.calls, m.hedges_sent, m.hedges_won), (1, 1, 1));
/// # Ok(()) }
/// ```
pub async fn hedge<F, Fut, T, E>(policy: &HedgePolicy, mut op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: 'static,
{
    let shared = &*policy.shared;
    shared.begin();
    let first = op();
    Race::new(first, FnLaunch { shared, op }, Deadline::current()).await
}

/// Launches backups by calling the operation again.
struct FnLaunch<'a, F> {
    shared: &'a HedgeShared,
    op: F,
}

impl<F, Fut> Launch for FnLaunch<'_, F>
where
    F: FnMut() -> Fut,
    Fut: Future,
{
    type Future = Fut;

    fn shared(&self) -> &HedgeShared {
        self.shared
    }

    fn can_hedge(&self) -> bool {
        true
    }

    fn poll_launch(&mut self, _: &mut Context<'_>) -> Poll<Option<Fut>> {
        Poll::Ready(Some((self.op)()))
    }
}

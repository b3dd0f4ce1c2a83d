//! [`Deadline`]: the instant by which a call must finish, and the task's
//! current deadline.

use pin_project_lite::pin_project;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

std::thread_local! {
    /// The deadline of the future being polled on this thread, set by
    /// `Scoped` around each poll of its inner future: in effect a
    /// task-local, exactly as `tokio::task_local!` makes one (a
    /// thread-local swapped in and out around the polls), but a `Cell` of a
    /// `Copy` value with a const initializer: no `RefCell` flag, no
    /// destructor to register, no indirect call. `tokio::task_local!`'s
    /// `TaskLocalFuture` cost about 11 ns a call in `benches/timeout_path`,
    /// which made the timeout layer slower than tower's; this costs one or
    /// two.
    static CURRENT: Cell<Option<Deadline>> = const { Cell::new(None) };
}

/// Makes `deadline` current until dropped, then puts back the one before
/// (also when the inner poll unwinds).
struct Enter {
    prev: Option<Deadline>,
}

impl Enter {
    #[inline]
    fn new(deadline: Deadline) -> Self {
        Enter {
            prev: CURRENT.with(|c| c.replace(Some(deadline))),
        }
    }
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// The instant by which a call must finish, on tokio's clock.
///
/// A deadline is absolute inside a process (so every layer of a call chain
/// agrees on it however long each took) and crosses the network as a
/// relative timeout (see [`codec`](crate::codec)), so hosts never compare
/// clocks. Being on tokio's clock, it follows `tokio::time::pause` and
/// `advance` in tests.
///
/// Deadlines order by instant: the smaller one is the earlier, the one that
/// wins when two apply ([`earlier`](Self::earlier)).
///
/// ```
/// use ballast_deadline::Deadline;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let deadline = Deadline::after(Duration::from_millis(300));
/// assert_eq!(deadline.remaining(), Duration::from_millis(300));
/// tokio::time::sleep(Duration::from_millis(100)).await;
/// assert_eq!(deadline.remaining(), Duration::from_millis(200));
///
/// // Code deep in the call chain reads the task's deadline.
/// deadline
///     .scope(async {
///         assert_eq!(Deadline::current(), Some(deadline));
///     })
///     .await;
/// assert_eq!(Deadline::current(), None);
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline at `instant`.
    #[inline]
    pub fn at(instant: Instant) -> Self {
        Deadline(instant)
    }

    /// The deadline `timeout` from now.
    ///
    /// A timeout too large for the clock (such as `Duration::MAX`) does not
    /// panic: the deadline lands about 30 years ahead, which is never.
    #[inline]
    pub fn after(timeout: Duration) -> Self {
        Self::after_from(Instant::now(), timeout)
    }

    /// The deadline `timeout` after `now`, saturating like [`after`](Self::after).
    #[inline]
    pub(crate) fn after_from(now: Instant, timeout: Duration) -> Self {
        Deadline(ballast_core::saturating_add(now, timeout))
    }

    /// The instant of the deadline.
    #[inline]
    pub fn instant(self) -> Instant {
        self.0
    }

    /// The time left until the deadline, zero once it has passed.
    #[inline]
    pub fn remaining(self) -> Duration {
        self.remaining_at(Instant::now())
    }

    /// The time left until the deadline as seen at `now`, zero if it has
    /// passed by then. For code that has already read the clock.
    #[inline]
    pub fn remaining_at(self, now: Instant) -> Duration {
        self.0.saturating_duration_since(now)
    }

    /// True once the deadline has passed (no time remains).
    #[inline]
    pub fn is_expired(self) -> bool {
        self.is_expired_at(Instant::now())
    }

    /// True if the deadline has passed by `now`.
    #[inline]
    pub fn is_expired_at(self, now: Instant) -> bool {
        self.0 <= now
    }

    /// The earlier of two deadlines: the one both must meet.
    #[inline]
    pub fn earlier(self, other: Deadline) -> Deadline {
        self.min(other)
    }

    /// The deadline of the code running in this task: the one set by the
    /// innermost enclosing [`scope`](Self::scope), or `None` outside any
    /// scope. A spawned task starts with none: it does not inherit the
    /// scope it was spawned from.
    #[inline]
    pub fn current() -> Option<Deadline> {
        CURRENT.with(Cell::get)
    }

    /// Runs `fut` with this deadline as the task's current deadline, so
    /// code inside reads it with [`Deadline::current`] without it being
    /// passed along.
    ///
    /// Scopes nest, and a callee can never extend its caller's budget: if
    /// a deadline is already current when `scope` is called, `fut` sees the
    /// earlier of the two. The scope only makes the deadline visible; it
    /// does not enforce it (the [`Timeout`](crate::Timeout) layer and
    /// [`within`](crate::within()) do). It allocates nothing.
    ///
    /// ```
    /// use ballast_deadline::Deadline;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let caller = Deadline::after(Duration::from_millis(100));
    /// let callee = Deadline::after(Duration::from_secs(10));
    /// caller
    ///     .scope(async move {
    ///         callee
    ///             .scope(async move {
    ///                 // The caller's 100 ms still bind.
    ///                 assert_eq!(Deadline::current(), Some(caller));
    ///             })
    ///             .await
    ///     })
    ///     .await;
    /// # }
    /// ```
    pub fn scope<F: Future>(self, fut: F) -> Scoped<F> {
        self.under_current().scope_exact(fut)
    }

    /// Runs `f` with this deadline (or the task's current one, if earlier)
    /// as the current deadline, for synchronous code: the part of a call
    /// that runs before its future is first polled.
    ///
    /// A tower layer that bounds a call must make the deadline current
    /// around `inner.call(req)` as well as around the future it returns
    /// ([`scope`](Self::scope)), because layers below read
    /// [`Deadline::current`] inside their own `call` (retry plans its
    /// attempts there, a bulkhead bounds its queue, a rate limiter its
    /// wait). [`Timeout`](crate::Timeout) and
    /// `ReceiveDeadline` (feature `http`) do both.
    ///
    /// ```
    /// use ballast_deadline::Deadline;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let deadline = Deadline::after(Duration::from_millis(50));
    /// let seen = deadline.in_scope(Deadline::current);
    /// assert_eq!(seen, Some(deadline));
    /// assert_eq!(Deadline::current(), None);
    /// # }
    /// ```
    #[inline]
    pub fn in_scope<R>(self, f: impl FnOnce() -> R) -> R {
        self.under_current().in_scope_exact(f)
    }

    /// `in_scope` for a deadline already no later than the current one.
    #[inline]
    pub(crate) fn in_scope_exact<R>(self, f: impl FnOnce() -> R) -> R {
        let _enter = Enter::new(self);
        f()
    }

    /// This deadline or the task's current one, whichever is earlier.
    #[inline]
    pub(crate) fn under_current(self) -> Deadline {
        match Deadline::current() {
            Some(enclosing) => self.earlier(enclosing),
            None => self,
        }
    }

    /// `scope` for a deadline already no later than the current one
    /// (see [`under_current`](Self::under_current)).
    #[inline]
    pub(crate) fn scope_exact<F>(self, fut: F) -> Scoped<F> {
        Scoped {
            deadline: self,
            inner: Some(fut),
        }
    }
}

impl fmt::Debug for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deadline")
            .field("instant", &self.0)
            .field("remaining", &self.remaining())
            .finish()
    }
}

impl From<Instant> for Deadline {
    fn from(instant: Instant) -> Self {
        Deadline(instant)
    }
}

pin_project! {
    /// A future running with a [`Deadline`] as its task's current deadline;
    /// made by [`Deadline::scope`].
    ///
    /// The deadline is current while the future is polled and while it is
    /// dropped, so code that cleans up on cancellation sees it too.
    pub struct Scoped<F> {
        deadline: Deadline,
        // `None` once it completed: it is dropped inside the scope then,
        // and so is a future that is cancelled (see the drop below).
        #[pin]
        inner: Option<F>,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.inner.is_some() {
                let _enter = Enter::new(*this.deadline);
                this.inner.set(None);
            }
        }
    }
}

impl<F> Scoped<F> {
    /// The deadline `fut` runs with (already the earlier of the one given
    /// and the one enclosing the scope).
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let _enter = Enter::new(*this.deadline);
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            panic!("`Scoped` polled after completion");
        };
        let poll = inner.poll(cx);
        if poll.is_ready() {
            this.inner.set(None);
        }
        poll
    }
}

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("deadline", &self.deadline())
            .finish_non_exhaustive()
    }
}

/// Anything that says how long a call may take: a [`Deadline`], a tokio
/// [`Instant`], or a [`Duration`] from now. What [`within`](crate::within())
/// accepts.
pub trait IntoDeadline {
    /// The deadline, reading the clock if it is relative.
    fn into_deadline(self) -> Deadline;
}

impl IntoDeadline for Deadline {
    fn into_deadline(self) -> Deadline {
        self
    }
}

impl IntoDeadline for Instant {
    fn into_deadline(self) -> Deadline {
        Deadline(self)
    }
}

impl IntoDeadline for Duration {
    fn into_deadline(self) -> Deadline {
        Deadline::after(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn remaining_counts_down_and_saturates_at_zero() {
        let d = Deadline::after(Duration::from_millis(50));
        assert!(!d.is_expired());
        tokio::time::advance(Duration::from_millis(30)).await;
        assert_eq!(d.remaining(), Duration::from_millis(20));
        tokio::time::advance(Duration::from_millis(30)).await;
        assert_eq!(d.remaining(), Duration::ZERO);
        assert!(d.is_expired());
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_is_expired_exactly_at_its_instant() {
        let d = Deadline::after(Duration::from_millis(10));
        tokio::time::advance(Duration::from_millis(10)).await;
        assert!(d.is_expired());
        assert_eq!(d.remaining(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn after_an_overflowing_timeout_saturates_far_ahead_instead_of_panicking() {
        let d = Deadline::after(Duration::MAX);
        assert!(d.remaining() >= Duration::from_secs(86_400 * 365 * 29));
        assert!(!d.is_expired());
    }

    #[tokio::test(start_paused = true)]
    async fn earlier_picks_the_smaller_instant_and_ordering_follows_instants() {
        let a = Deadline::after(Duration::from_millis(10));
        let b = Deadline::after(Duration::from_millis(20));
        assert_eq!(a.earlier(b), a);
        assert_eq!(b.earlier(a), a);
        assert!(a < b);
        assert_eq!(Deadline::at(a.instant()), a);
    }

    #[tokio::test(start_paused = true)]
    async fn no_deadline_is_current_outside_a_scope() {
        assert_eq!(Deadline::current(), None);
    }

    #[test]
    fn current_is_none_outside_a_runtime() {
        assert_eq!(Deadline::current(), None);
    }
}

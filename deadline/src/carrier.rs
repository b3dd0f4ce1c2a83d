//! [`DeadlineCarrier`]: requests that carry their own deadline.

use crate::deadline::Deadline;

/// A request type that carries a [`Deadline`].
///
/// Implement it for your own request types so the
/// [`FromRequest`](crate::FromRequest) source (and, later, the propagation
/// layers) can read and attach deadlines. With feature `http` it is
/// implemented for `http::Request<B>` and `http::request::Parts`, which keep
/// the deadline in their `http::Extensions`.
///
/// ```
/// use ballast_deadline::{Deadline, DeadlineCarrier};
/// use std::time::Duration;
///
/// struct Query {
///     sql: String,
///     deadline: Option<Deadline>,
/// }
///
/// impl DeadlineCarrier for Query {
///     fn deadline(&self) -> Option<Deadline> {
///         self.deadline
///     }
///     fn set_deadline(&mut self, deadline: Deadline) {
///         self.deadline = Some(deadline);
///     }
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut q = Query { sql: "select 1".into(), deadline: None };
/// q.set_deadline(Deadline::after(Duration::from_millis(300)));
/// assert_eq!(q.deadline().unwrap().remaining(), Duration::from_millis(300));
/// # }
/// ```
pub trait DeadlineCarrier {
    /// The request's deadline, if it has one.
    fn deadline(&self) -> Option<Deadline>;

    /// Attaches `deadline` to the request, replacing any it had. To keep
    /// the earlier of the two, set `old.earlier(new)`.
    fn set_deadline(&mut self, deadline: Deadline);
}

#[cfg(feature = "http")]
impl<B> DeadlineCarrier for http::Request<B> {
    #[inline]
    fn deadline(&self) -> Option<Deadline> {
        self.extensions().get::<Deadline>().copied()
    }

    #[inline]
    fn set_deadline(&mut self, deadline: Deadline) {
        self.extensions_mut().insert(deadline);
    }
}

#[cfg(feature = "http")]
impl DeadlineCarrier for http::request::Parts {
    #[inline]
    fn deadline(&self) -> Option<Deadline> {
        self.extensions.get::<Deadline>().copied()
    }

    #[inline]
    fn set_deadline(&mut self, deadline: Deadline) {
        self.extensions.insert(deadline);
    }
}

#[cfg(all(test, feature = "http"))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn an_http_request_keeps_its_deadline_in_extensions() {
        let mut req = http::Request::new(());
        assert_eq!(req.deadline(), None);
        let d = Deadline::after(Duration::from_millis(300));
        req.set_deadline(d);
        assert_eq!(req.deadline(), Some(d));
        assert_eq!(req.extensions().get::<Deadline>(), Some(&d));

        let (mut parts, ()) = req.into_parts();
        assert_eq!(parts.deadline(), Some(d));
        let later = Deadline::after(Duration::from_secs(1));
        parts.set_deadline(later);
        assert_eq!(parts.deadline(), Some(later));
    }
}

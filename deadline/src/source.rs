//! [`DeadlineSource`]: where a [`Timeout`](crate::Timeout) finds a request's
//! deadline.

use crate::carrier::DeadlineCarrier;
use crate::deadline::Deadline;

/// Where the [`Timeout`](crate::Timeout) layer reads the deadline a
/// request arrived with.
///
/// Ready-made: [`TaskLocal`] (the default, for any request type),
/// [`FromRequest`] and [`FromRequestOrTaskLocal`]. Implement it to read a
/// deadline from somewhere else; it is called once per request and should
/// be cheap.
pub trait DeadlineSource<Req> {
    /// The deadline `req` must meet, if any.
    fn deadline(&self, req: &Req) -> Option<Deadline>;

    /// The deadline that binds `req`: the earlier of what
    /// [`deadline`](Self::deadline) says and the task's current deadline
    /// ([`Deadline::current`]), which always binds as well. Layers call
    /// this; sources that already include the task's deadline override it
    /// so it is not read twice.
    #[inline]
    fn binding(&self, req: &Req) -> Option<Deadline> {
        match (self.deadline(req), Deadline::current()) {
            (Some(a), Some(b)) => Some(a.earlier(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The task's current deadline ([`Deadline::current`]), whatever the
/// request is. The default source: it works for any request type.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskLocal;

impl<Req> DeadlineSource<Req> for TaskLocal {
    #[inline]
    fn deadline(&self, _: &Req) -> Option<Deadline> {
        Deadline::current()
    }

    #[inline]
    fn binding(&self, _: &Req) -> Option<Deadline> {
        Deadline::current()
    }
}

/// The deadline the request carries ([`DeadlineCarrier`]), for example in
/// an `http::Request`'s extensions.
#[derive(Debug, Clone, Copy, Default)]
pub struct FromRequest;

impl<Req: DeadlineCarrier> DeadlineSource<Req> for FromRequest {
    #[inline]
    fn deadline(&self, req: &Req) -> Option<Deadline> {
        req.deadline()
    }
}

/// The request's own deadline and the task's current deadline, whichever
/// is earlier; either may be missing. A request can thus never extend the
/// budget of the task that sends it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FromRequestOrTaskLocal;

impl<Req: DeadlineCarrier> DeadlineSource<Req> for FromRequestOrTaskLocal {
    #[inline]
    fn deadline(&self, req: &Req) -> Option<Deadline> {
        match (req.deadline(), Deadline::current()) {
            (Some(a), Some(b)) => Some(a.earlier(b)),
            (a, b) => a.or(b),
        }
    }

    #[inline]
    fn binding(&self, req: &Req) -> Option<Deadline> {
        self.deadline(req)
    }
}

//! What is worth retrying, and which requests can be sent again.

use std::time::Duration;

/// What to do with one attempt's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Hand the result to the caller: a success, or a failure that
    /// retrying will not fix.
    Return,
    /// A transient failure: retry after the backoff's delay.
    Retry,
    /// A transient failure whose source said when to come back (an HTTP
    /// `Retry-After`, say): retry after at least this long, or not at all
    /// if that is past the deadline.
    RetryAfter(Duration),
}

/// Decides what is worth retrying. Nothing is retried unless a classifier
/// says so: a retry layer cannot know which failures are transient (a
/// timeout usually is, a bad request never is), and retrying the wrong
/// ones multiplies load for nothing.
///
/// Implemented for any `Fn(&Result<Res, E>) -> Action`, so a closure is a
/// classifier:
///
/// ```
/// use ballast_retry::{Action, Classifier};
/// use std::io::ErrorKind;
///
/// let transient = |r: &Result<u16, std::io::Error>| match r {
///     Ok(503) => Action::Retry,
///     Ok(_) => Action::Return,
///     Err(e) if e.kind() == ErrorKind::ConnectionRefused => Action::Retry,
///     Err(_) => Action::Return,
/// };
/// assert_eq!(transient.classify(&Ok(503)), Action::Retry);
/// assert_eq!(transient.classify(&Ok(404)), Action::Return);
/// ```
pub trait Classifier<Res, E> {
    /// What to do with `result`.
    fn classify(&self, result: &Result<Res, E>) -> Action;
}

impl<F, Res, E> Classifier<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Action,
{
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Action {
        self(result)
    }
}

/// Every `Err` is transient and retried; every `Ok` is returned. For
/// operations whose errors are all worth another try (the budget still
/// caps the extra load); say so explicitly by choosing it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryErrors;

impl<Res, E> Classifier<Res, E> for RetryErrors {
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Action {
        match result {
            Ok(_) => Action::Return,
            Err(_) => Action::Retry,
        }
    }
}

/// Makes the copy of a request that a retry sends; `None` means this
/// request cannot be sent twice (a streaming body, say), so its failures
/// are returned without retrying.
///
/// Implemented for any `Fn(&Req) -> Option<Req>`.
pub trait CloneRequest<Req> {
    /// A copy of `req` for another attempt, if it can be made.
    fn clone_request(&self, req: &Req) -> Option<Req>;
}

/// The default: copies every request that is safe to send again, as its
/// type says ([`Resendable`]): an `http::Request` only if its method is
/// idempotent, it carries an `Idempotency-Key` or it is a gRPC call
/// (feature `http`; see [`IdempotentRequests`](crate::http::IdempotentRequests));
/// a number, a string and the other plain values always.
///
/// So a plain [`Policy::layer`](crate::Policy::layer) never sends a
/// `POST` twice. To retry requests that are not idempotent (a server that
/// deduplicates them), opt in with [`AnyRequests`] or an
/// [`IdempotentRequests`](crate::http::IdempotentRequests) that allows
/// their method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloneRequests;

impl<Req: Resendable> CloneRequest<Req> for CloneRequests {
    #[inline]
    fn clone_request(&self, req: &Req) -> Option<Req> {
        if req.may_resend() {
            Some(req.clone())
        } else {
            None
        }
    }
}

/// Copies every `Clone` request, whatever it asks the server to do: the
/// opt-in for retrying requests that are not idempotent, for a server
/// that makes them safe to repeat.
///
/// ```
/// use ballast_retry::{AnyRequests, Config, Policy, RetryErrors};
///
/// let policy = Policy::new(Config::default(), RetryErrors);
/// let layer = policy.layer().clone_requests_with(AnyRequests);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnyRequests;

impl<Req: Clone> CloneRequest<Req> for AnyRequests {
    #[inline]
    fn clone_request(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// A request the default cloner ([`CloneRequests`]) may copy for another
/// attempt, when [`may_resend`](Self::may_resend) says so.
///
/// Implemented for the plain values requests usually are (numbers,
/// `bool`, `char`, `String`, references, `Arc`s and `Rc`s, and boxes,
/// vectors, options, arrays and tuples of such), which are always sent
/// again, and (feature `http`) for `http::Request`, which is only when
/// safe. For a request type of one's own, one line says it may always be
/// sent again:
///
/// ```
/// #[derive(Clone)]
/// struct GetItem { id: u64 }
///
/// impl ballast_retry::Resendable for GetItem {}
/// ```
#[diagnostic::on_unimplemented(
    message = "ballast cannot tell whether a `{Self}` is safe to send twice",
    note = "add `impl ballast_retry::Resendable for {Self} {{}}` if it always is, or choose a \
            cloner with `clone_requests_with` (`AnyRequests` copies any `Clone` request)"
)]
pub trait Resendable: Clone {
    /// Whether this request may be sent again (always, unless the type
    /// says otherwise).
    #[inline]
    fn may_resend(&self) -> bool {
        true
    }
}

macro_rules! always_resendable {
    ($($t:ty),* $(,)?) => { $(impl Resendable for $t {})* };
}

always_resendable!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    Duration,
);

impl<T: ?Sized> Resendable for &T {}
impl<T: ?Sized> Resendable for std::sync::Arc<T> {}
impl<T: ?Sized> Resendable for std::rc::Rc<T> {}
impl<T: Resendable> Resendable for Box<T> {
    #[inline]
    fn may_resend(&self) -> bool {
        (**self).may_resend()
    }
}
impl<T: Resendable> Resendable for Option<T> {
    #[inline]
    fn may_resend(&self) -> bool {
        self.as_ref().is_none_or(T::may_resend)
    }
}
impl<T: Resendable> Resendable for Vec<T> {
    #[inline]
    fn may_resend(&self) -> bool {
        self.iter().all(T::may_resend)
    }
}
impl<T: Resendable, const N: usize> Resendable for [T; N] {
    #[inline]
    fn may_resend(&self) -> bool {
        self.iter().all(T::may_resend)
    }
}

macro_rules! tuple_resendable {
    ($($name:ident),+) => {
        impl<$($name: Resendable),+> Resendable for ($($name,)+) {
            #[inline]
            #[allow(non_snake_case)]
            fn may_resend(&self) -> bool {
                let ($($name,)+) = self;
                true $(&& $name.may_resend())+
            }
        }
    };
}

tuple_resendable!(A);
tuple_resendable!(A, B);
tuple_resendable!(A, B, C);
tuple_resendable!(A, B, C, D);

impl<F, Req> CloneRequest<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    #[inline]
    fn clone_request(&self, req: &Req) -> Option<Req> {
        self(req)
    }
}

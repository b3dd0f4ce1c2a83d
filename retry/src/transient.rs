//! Which errors (as opposed to responses) are worth another try: the
//! [`TransientError`] filter that the HTTP and gRPC classifiers take.

use std::error::Error;
use std::io;

/// Decides whether an error (a failed call, not an error response) is
/// transient. The HTTP and gRPC classifiers ask it about every `Err`.
///
/// Implemented for any `Fn(&E) -> bool`, so a closure is a filter:
///
/// ```
/// use ballast_retry::TransientError;
///
/// let timeouts = |e: &std::io::Error| e.kind() == std::io::ErrorKind::TimedOut;
/// assert!(timeouts.is_transient(&std::io::ErrorKind::TimedOut.into()));
/// ```
pub trait TransientError<E> {
    /// Whether `error` is worth another attempt.
    fn is_transient(&self, error: &E) -> bool;
}

impl<F, E> TransientError<E> for F
where
    F: Fn(&E) -> bool,
{
    #[inline]
    fn is_transient(&self, error: &E) -> bool {
        self(error)
    }
}

/// No error is transient: every `Err` is returned as it is. The default
/// of the HTTP classifiers, because a client's error type alone does not
/// say whether the request reached the server (see [`ConnectionErrors`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoErrors;

impl<E> TransientError<E> for NoErrors {
    #[inline]
    fn is_transient(&self, _: &E) -> bool {
        false
    }
}

/// Every error is transient. For clients whose errors are all failures to
/// reach the server (the budget still caps the extra load); choose it
/// knowingly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllErrors;

impl<E> TransientError<E> for AllErrors {
    #[inline]
    fn is_transient(&self, _: &E) -> bool {
        true
    }
}

/// Errors that come from the connection: the error or any of its
/// [`source`](Error::source)s is an [`io::Error`] of a kind that means the
/// server could not be reached or the connection broke (see
/// [`is_connection_error`]).
///
/// This fits the usual HTTP clients without depending on them: hyper's,
/// hyper-util's and reqwest's errors keep the socket's `io::Error` in
/// their source chain (`reqwest::Error::is_connect` and
/// hyper-util's `Error::is_connect` are the same question asked of one
/// client). A reset or a broken pipe may come after the request was sent,
/// so pair it with a request filter that retries only idempotent methods
/// (the HTTP module's `IdempotentRequests`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionErrors;

impl<E: Error + 'static> TransientError<E> for ConnectionErrors {
    #[inline]
    fn is_transient(&self, error: &E) -> bool {
        is_connection_error(error)
    }
}

/// Whether `error`, or any error in its source chain, is an [`io::Error`]
/// of a connection kind: refused, reset, aborted, not connected, broken
/// pipe, timed out, host or network unreachable, or an unexpected end of
/// the stream. For a boxed error, pass `&*boxed`.
///
/// ```
/// use ballast_retry::is_connection_error;
/// use std::io;
///
/// let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
/// assert!(is_connection_error(&refused));
/// // Wrapped, as HTTP clients do.
/// let wrapped = io::Error::other(refused);
/// assert!(is_connection_error(&wrapped));
/// assert!(!is_connection_error(&io::Error::from(io::ErrorKind::InvalidData)));
/// ```
pub fn is_connection_error(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if is_connection_kind(io.kind()) {
                return true;
            }
            // An `io::Error` wrapping another error reports the wrapped
            // one's source, not the wrapped one itself: look inside.
            if let Some(inner) = io.get_ref() {
                next = Some(inner);
                continue;
            }
        }
        next = e.source();
    }
    false
}

fn is_connection_kind(kind: io::ErrorKind) -> bool {
    use io::ErrorKind::*;
    matches!(
        kind,
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | BrokenPipe
            | TimedOut
            | HostUnreachable
            | NetworkUnreachable
            | UnexpectedEof
    )
}

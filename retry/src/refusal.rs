//! Finding a ballast refusal ([`Rejected`]) in an attempt's error, so a
//! retry or a hedge can tell "a layer below refused" from "the dependency
//! failed" whatever the classifier says (see `plan` and `hedge::race`).

use ballast_core::Rejected;
use std::any::Any;
use std::error::Error;
use std::io;

/// The refusal `error` is, or carries anywhere in its source chain (a
/// `Rejected` boxed into a `BoxError`, or wrapped by an error whose
/// `source` it is).
pub(crate) fn in_error<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a Rejected> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(rejected) = e.downcast_ref::<Rejected>() {
            return Some(rejected);
        }
        // An `io::Error` wrapping another error reports the wrapped one's
        // source, not the wrapped one itself: look inside.
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            next = Some(inner);
            continue;
        }
        next = e.source();
    }
    None
}

/// The refusal an error of any type carries, as far as its type shows: a
/// `Rejected` itself, a boxed error (`BoxError` and its non-`Sync` and
/// non-`Send` forms) or an `io::Error` holding one anywhere in its chain.
/// For the plain helpers, whose error type has no bounds to walk a chain
/// by; the layers convert their errors into a `BoxError` and use
/// [`in_error`].
pub(crate) fn of<E: 'static>(error: &E) -> Option<&Rejected> {
    let any = error as &dyn Any;
    if let Some(rejected) = any.downcast_ref::<Rejected>() {
        return Some(rejected);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn Error + Send + Sync>>() {
        return in_error(&**e);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn Error + Send>>() {
        return in_error(&**e);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn Error>>() {
        return in_error(&**e);
    }
    if let Some(e) = any.downcast_ref::<io::Error>() {
        return in_error(e);
    }
    None
}

/// Whether an attempt's outcome is a refusal from a layer below (for a
/// hedge race, whose attempts' output type is known only as a `Result`).
pub(crate) trait Outcome {
    /// True when the attempt was refused, not answered.
    fn is_refusal(&self) -> bool;
}

impl<T, E: 'static> Outcome for Result<T, E> {
    #[inline]
    fn is_refusal(&self) -> bool {
        match self {
            Ok(_) => false,
            Err(e) => of(e).is_some(),
        }
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;
    use ballast_core::Reason;

    #[test]
    fn finds_a_refusal_itself_boxed_wrapped_and_as_a_source() {
        let never = || Rejected::never(Reason::BulkheadFull);
        assert!(of(&never()).is_some());
        let boxed: Box<dyn Error + Send + Sync> = Box::new(never());
        assert!(of(&boxed).is_some());
        assert!(of(&io::Error::other(never())).is_some());
        let wrapped: Box<dyn Error + Send + Sync> = Box::new(io::Error::other(never()));
        assert!(of(&wrapped).is_some());
        assert!(of(&io::Error::other("down")).is_none());
        assert!(of(&"down").is_none());
    }
}

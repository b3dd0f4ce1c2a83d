//! [`RejectBody`]: how the HTTP layer makes the body of its 429.

use ballast_core::Rejected;

/// Makes the body of a 429 for any response body type.
///
/// [`DefaultBody`] (the default) uses the body type's `Default` (an empty
/// body for hyper's and axum's bodies); any `Fn(&Rejected) -> B + Clone`
/// makes its own, for a JSON error document for example:
/// [`HttpRateLimitLayer::body`](super::HttpRateLimitLayer::body).
pub trait RejectBody<B> {
    /// The body for a response refusing a request because of `rejected`.
    fn body(&self, rejected: &Rejected) -> B;
}

/// A 429 whose body is the body type's `Default` (empty for hyper and
/// axum bodies).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultBody;

impl<B: Default> RejectBody<B> for DefaultBody {
    fn body(&self, _rejected: &Rejected) -> B {
        B::default()
    }
}

impl<B, F> RejectBody<B> for F
where
    F: Fn(&Rejected) -> B,
{
    fn body(&self, rejected: &Rejected) -> B {
        self(rejected)
    }
}

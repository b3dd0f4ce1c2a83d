//! [`IdempotentRequests`]: which HTTP requests may be sent again.

use crate::classify::CloneRequest;
use http::{Method, Request};

/// Copies `http::Request<B>`s for retries, but only those whose method is
/// allowed: by default the idempotent ones of RFC 9110 §9.2.2, `GET`,
/// `HEAD`, `OPTIONS`, `PUT`, `DELETE` and `TRACE`. A `POST` or `PATCH`
/// that failed is returned as it is: the server may have acted on it
/// before failing, and sending it again could do it twice. Allow one with
/// [`allow`](Self::allow) when the server deduplicates (an idempotency
/// key).
///
/// The body must be `Clone` (a `String`, `Bytes`, `Full<Bytes>`,
/// `()`...). For a streaming body, use a closure
/// `Fn(&Request<B>) -> Option<Request<B>>` that says `None`.
///
/// ```
/// use ballast_retry::CloneRequest;
/// use ballast_retry::http::IdempotentRequests;
/// use http::{Method, Request};
///
/// let requests = IdempotentRequests::new();
/// let get = Request::get("/items").body(String::new())?;
/// let post = Request::post("/items").body("{}".to_string())?;
/// assert!(requests.clone_request(&get).is_some());
/// assert!(requests.clone_request(&post).is_none());
/// assert!(requests.allow(Method::POST).clone_request(&post).is_some());
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentRequests {
    methods: Vec<Method>,
    any: bool,
}

impl IdempotentRequests {
    /// Retries `GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE` and `TRACE`.
    pub fn new() -> Self {
        Self {
            methods: vec![
                Method::GET,
                Method::HEAD,
                Method::OPTIONS,
                Method::PUT,
                Method::DELETE,
                Method::TRACE,
            ],
            any: false,
        }
    }

    /// Retries `method` too.
    pub fn allow(mut self, method: Method) -> Self {
        if !self.methods.contains(&method) {
            self.methods.push(method);
        }
        self
    }

    /// Retries every method: for a server that makes every request safe to
    /// repeat.
    pub fn any_method(mut self) -> Self {
        self.any = true;
        self
    }

    /// Whether a request with `method` may be sent again.
    pub fn allows(&self, method: &Method) -> bool {
        self.any || self.methods.contains(method)
    }
}

impl Default for IdempotentRequests {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: Clone> CloneRequest<Request<B>> for IdempotentRequests {
    #[inline]
    fn clone_request(&self, req: &Request<B>) -> Option<Request<B>> {
        if self.allows(req.method()) {
            Some(req.clone())
        } else {
            None
        }
    }
}

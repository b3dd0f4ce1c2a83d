//! [`IdempotentRequests`]: which HTTP requests may be sent again; the
//! same rule makes `http::Request` [`Resendable`] for the default cloner.

use crate::classify::{CloneRequest, Resendable};
use http::header::{CONTENT_TYPE, HeaderName};
use http::{Method, Request};

/// The header a client sets to make a non-idempotent request safe to
/// repeat: the server acts once per key (the IETF httpapi draft
/// "The Idempotency-Key HTTP Header Field", as Stripe and others use it).
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Whether `req` is a gRPC call (`content-type: application/grpc`, with or
/// without a `+proto` or `;` suffix): always a `POST`, retried or not as
/// the gRPC rules say ([`grpc`](crate::grpc)), not as HTTP methods.
fn is_grpc<B>(req: &Request<B>) -> bool {
    is_grpc_headers(req.headers())
}

/// [`is_grpc`] over the headers alone, for any request type.
pub(super) fn is_grpc_headers(headers: &http::HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    let value = value.as_bytes();
    let grpc = b"application/grpc";
    value.len() >= grpc.len()
        && value[..grpc.len()].eq_ignore_ascii_case(grpc)
        && matches!(value.get(grpc.len()), None | Some(b'+' | b';'))
}

/// The methods RFC 9110 §9.2.2 defines as idempotent.
pub(super) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// What the default cloner ([`CloneRequests`](crate::CloneRequests))
/// copies: a request whose method is idempotent, one carrying an
/// [`IDEMPOTENCY_KEY`], or a gRPC call. A `POST`, `PATCH` or `CONNECT`
/// without a key is never sent twice; opt in with
/// [`IdempotentRequests::allow`] or [`AnyRequests`](crate::AnyRequests).
impl<B: Clone> Resendable for Request<B> {
    #[inline]
    fn may_resend(&self) -> bool {
        is_idempotent(self.method())
            || self.headers().contains_key(IDEMPOTENCY_KEY)
            || is_grpc(self)
    }
}

/// Copies `http::Request<B>`s for retries, but only those whose method is
/// allowed: by default the idempotent ones of RFC 9110 §9.2.2, `GET`,
/// `HEAD`, `OPTIONS`, `PUT`, `DELETE` and `TRACE`. A `POST`, `PATCH` or
/// `CONNECT` that failed is returned as it is: the server may have acted
/// on it before failing, and sending it again could do it twice. Unless:
///
/// - it carries an [`IDEMPOTENCY_KEY`] header, with which the server acts
///   once per key (the IETF draft's and Stripe's rule);
/// - it is a gRPC call (`content-type: application/grpc...`), always a
///   `POST`, which the gRPC classifiers' rules govern;
/// - its method is allowed with [`allow`](Self::allow), or every method
///   with [`any_method`](Self::any_method), for a server known to
///   deduplicate.
///
/// The default cloner of the layers ([`CloneRequests`](crate::CloneRequests))
/// applies the same rule to `http::Request`s; this type is for allowing
/// more.
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
/// let keyed = Request::post("/items").header("idempotency-key", "k-1").body("{}".to_string())?;
/// assert!(requests.clone_request(&keyed).is_some());
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
        if self.allows(req.method()) || req.headers().contains_key(IDEMPOTENCY_KEY) || is_grpc(req)
        {
            Some(req.clone())
        } else {
            None
        }
    }
}

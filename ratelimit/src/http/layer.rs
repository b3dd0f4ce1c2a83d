//! [`HttpRateLimitLayer`]: the server-side HTTP layer.

use super::body::DefaultBody;
use super::config::HttpConfig;
use super::headers::Fields;
use super::service::HttpRateLimit;
use crate::keyed::KeyedRateLimiter;
use crate::layer::KeyedBy;
use crate::limiter::RateLimiter;
use std::fmt;
use std::sync::Arc;
use tower_layer::Layer;

/// Limits an HTTP service: refused requests get a 429 with `Retry-After`
/// and the rate-limit fields instead of an error, admitted responses get
/// the fields too (if configured). Build it with
/// [`RateLimiter::http_layer`], [`KeyedRateLimiter::http_layer`], or
/// [`new`](Self::new) / [`keyed`](Self::keyed).
///
/// The layer and its services are `Clone`; every clone shares one limit.
#[derive(Clone)]
pub struct HttpRateLimitLayer<P = RateLimiter, M = DefaultBody> {
    policy: P,
    fields: Arc<Fields>,
    body: M,
}

impl<P: fmt::Debug, M> fmt::Debug for HttpRateLimitLayer<P, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRateLimitLayer")
            .field("policy", &self.policy)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl HttpRateLimitLayer {
    /// A layer applying `limiter` to every request.
    pub fn new(limiter: RateLimiter, config: HttpConfig) -> Self {
        let fields = Arc::new(Fields::new(&config, &limiter.config().limit));
        Self {
            policy: limiter,
            fields,
            body: DefaultBody,
        }
    }
}

impl<K, F, S> HttpRateLimitLayer<KeyedBy<K, F, S>> {
    /// A layer limiting each request by the key `key_fn` picks from it
    /// (see [`key`](super::key) for a header or a peer address).
    pub fn keyed(limiter: KeyedRateLimiter<K, S>, key_fn: F, config: HttpConfig) -> Self {
        let fields = Arc::new(Fields::new(&config, &limiter.shared.core.config.limit));
        Self {
            policy: KeyedBy { limiter, key_fn },
            fields,
            body: DefaultBody,
        }
    }
}

impl<P, M> HttpRateLimitLayer<P, M> {
    /// Makes each 429's body with `body` instead of the body type's
    /// `Default`: any `Fn(&Rejected) -> B + Clone`, or a
    /// [`RejectBody`](super::RejectBody).
    pub fn body<N>(self, body: N) -> HttpRateLimitLayer<P, N> {
        HttpRateLimitLayer {
            policy: self.policy,
            fields: self.fields,
            body,
        }
    }
}

impl<S, P: Clone, M: Clone> Layer<S> for HttpRateLimitLayer<P, M> {
    type Service = HttpRateLimit<S, P, M>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpRateLimit::new(
            inner,
            self.policy.clone(),
            self.fields.clone(),
            self.body.clone(),
        )
    }
}

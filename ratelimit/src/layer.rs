//! [`RateLimitLayer`]: the tower layer, and the [`Policy`] it applies.

use crate::config::Config;
use crate::keyed::KeyedRateLimiter;
use crate::limiter::{Core, Decision, RateLimiter};
use crate::service::RateLimit;
use crate::state::Usage;
use crate::sync::AtomicU64;
use ballast_core::Nanos;
use hashbrown::DefaultHashBuilder;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use tower_layer::Layer;

mod sealed {
    pub trait Sealed {}
}

/// How a [`RateLimit`] service finds the limit for a request: the direct
/// [`RateLimiter`], or a [`KeyedBy`] key function over a
/// [`KeyedRateLimiter`]. Sealed: only this crate implements it.
pub trait Policy<Req>: Clone + sealed::Sealed {
    /// Decides for `req`, which has already waited `waited` ns.
    #[doc(hidden)]
    fn decide(&self, req: &Req, waited: Nanos) -> Decision;

    /// Decides like [`decide`](Self::decide), and reads the limit's usage
    /// right after when `usage` is asked for or the request is refused
    /// (the HTTP layer's headers).
    #[doc(hidden)]
    fn decide_usage(&self, req: &Req, waited: Nanos, usage: bool) -> (Decision, Option<Usage>);

    /// The configuration of the limit.
    #[doc(hidden)]
    fn config(&self) -> &Config;
}

/// Decides for one cell of `state` and reads its usage if wanted.
#[inline]
fn decide_usage(
    core: &Arc<Core>,
    state: &AtomicU64,
    now: Nanos,
    budget: Nanos,
    usage: bool,
) -> (Decision, Option<Usage>) {
    let decision = core.decide(state, 1, now, budget);
    let usage =
        (usage || matches!(decision, Decision::Reject(_))).then(|| core.rule.usage(state, now));
    (decision, usage)
}

impl sealed::Sealed for RateLimiter {}

impl<Req> Policy<Req> for RateLimiter {
    // Always: called out of line, its `Decision` came back through memory
    // and the call's future, built after it, was copied with loads that
    // straddled the stores just made (measured: 38 ns a call against 21).
    #[inline(always)]
    fn decide(&self, _req: &Req, waited: Nanos) -> Decision {
        let now = self.core.now();
        let budget = self.core.budget(now).saturating_sub(waited);
        self.core.decide(&self.core.state, 1, now, budget)
    }

    fn decide_usage(&self, _req: &Req, waited: Nanos, usage: bool) -> (Decision, Option<Usage>) {
        let now = self.core.now();
        let budget = self.core.budget(now).saturating_sub(waited);
        decide_usage(&self.core, &self.core.state, now, budget, usage)
    }

    fn config(&self) -> &Config {
        &self.core.config
    }
}

/// A keyed limiter with the function that picks each request's key.
pub struct KeyedBy<K, F, S = DefaultHashBuilder> {
    pub(crate) limiter: KeyedRateLimiter<K, S>,
    pub(crate) key_fn: F,
}

impl<K, F: Clone, S> Clone for KeyedBy<K, F, S> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
            key_fn: self.key_fn.clone(),
        }
    }
}

impl<K, F, S> fmt::Debug for KeyedBy<K, F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBy")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<K, F, S> sealed::Sealed for KeyedBy<K, F, S> {}

impl<K, F, S, Req> Policy<Req> for KeyedBy<K, F, S>
where
    K: Hash + Eq + Clone,
    F: Fn(&Req) -> K + Clone,
    S: BuildHasher,
{
    #[inline]
    fn decide(&self, req: &Req, waited: Nanos) -> Decision {
        let key = (self.key_fn)(req);
        let core = &self.limiter.shared.core;
        let now = core.now();
        let budget = core.budget(now).saturating_sub(waited);
        self.limiter
            .with_state(&key, now, |s| core.decide(s, 1, now, budget))
    }

    fn decide_usage(&self, req: &Req, waited: Nanos, usage: bool) -> (Decision, Option<Usage>) {
        let key = (self.key_fn)(req);
        let core = &self.limiter.shared.core;
        let now = core.now();
        let budget = core.budget(now).saturating_sub(waited);
        self.limiter
            .with_state(&key, now, |s| decide_usage(core, s, now, budget, usage))
    }

    fn config(&self) -> &Config {
        &self.limiter.shared.core.config
    }
}

/// Applies a rate limit to a service: [`RateLimiter::layer`] or
/// [`KeyedRateLimiter::layer`].
///
/// Unlike `tower::limit::RateLimitLayer`, the layer and its services are
/// `Clone`, and every clone shares one limit.
#[derive(Clone, Debug)]
pub struct RateLimitLayer<P = RateLimiter> {
    policy: P,
}

impl RateLimitLayer {
    /// A layer applying `limiter`.
    pub fn new(limiter: RateLimiter) -> Self {
        Self { policy: limiter }
    }
}

impl<K, F, S> RateLimitLayer<KeyedBy<K, F, S>> {
    /// A layer limiting each request by the key `key_fn` returns for it.
    pub fn keyed(limiter: KeyedRateLimiter<K, S>, key_fn: F) -> Self {
        Self {
            policy: KeyedBy { limiter, key_fn },
        }
    }
}

impl<S, P: Clone> Layer<S> for RateLimitLayer<P> {
    type Service = RateLimit<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(inner, self.policy.clone())
    }
}

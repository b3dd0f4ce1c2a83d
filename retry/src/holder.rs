//! What a service and its calls' futures hold of the policy: an `Arc` (for
//! a [`Policy`](crate::Policy)) or a `&'static` (for a
//! [`StaticPolicy`](crate::StaticPolicy)), behind one trait so that the
//! retry logic is written once.

use crate::policy::Shared;
use crate::service::Local;
use std::sync::Arc;

/// The policy's shared state and the request cloner, as a call's future
/// holds them. Public in a private module: it names the holder in public
/// types' parameters, but no one outside the crate can name or implement
/// it.
pub trait Holder<C, K>: Clone {
    /// The policy's budget, counts and settings.
    fn shared(&self) -> &Shared<C>;

    /// Copies requests for retries.
    fn cloner(&self) -> &K;
}

/// A [`Policy`](crate::Policy)'s: cloning it is one locked increment of
/// the service value's own count, and dropping it one decrement.
impl<C, K> Holder<C, K> for Arc<Local<C, K>> {
    #[inline]
    fn shared(&self) -> &Shared<C> {
        &self.policy.shared
    }

    #[inline]
    fn cloner(&self) -> &K {
        &self.cloner
    }
}

/// A [`StaticPolicy`](crate::StaticPolicy)'s: a plain reference and the
/// cloner's own copy, so cloning it writes no shared memory (and copies
/// `K`, a zero-sized value for [`CloneRequests`](crate::CloneRequests)).
pub struct StaticLocal<C: 'static, K> {
    pub(crate) shared: &'static Shared<C>,
    pub(crate) cloner: K,
}

impl<C, K: Clone> Clone for StaticLocal<C, K> {
    #[inline]
    fn clone(&self) -> Self {
        Self {
            shared: self.shared,
            cloner: self.cloner.clone(),
        }
    }
}

impl<C, K: Clone> Holder<C, K> for StaticLocal<C, K> {
    #[inline]
    fn shared(&self) -> &Shared<C> {
        self.shared
    }

    #[inline]
    fn cloner(&self) -> &K {
        &self.cloner
    }
}

//! [`KeyedCircuitBreakerLayer`]: wraps services in a breaker per key.

use super::registry::KeyedBreakers;
use super::service::KeyedCircuitBreaker;
use crate::classify::ErrorsAreFailures;
use std::any::type_name;
use std::fmt;
use tower_layer::Layer;

/// A tower layer that puts each request behind the breaker of its key:
/// `key(&request)` picks the key, [`KeyedBreakers`] holds the breakers.
///
/// Every `Err` counts as a failure unless [`classifier`](Self::classifier)
/// says otherwise. Every service the layer wraps shares the registry.
pub struct KeyedCircuitBreakerLayer<K, F, C = ErrorsAreFailures> {
    breakers: KeyedBreakers<K>,
    key: F,
    classifier: C,
}

impl<K, F> KeyedCircuitBreakerLayer<K, F> {
    /// A layer over `breakers`, keying requests with `key` and counting
    /// every `Err` as a failure.
    pub fn new(breakers: KeyedBreakers<K>, key: F) -> Self {
        Self {
            breakers,
            key,
            classifier: ErrorsAreFailures,
        }
    }
}

impl<K, F, C> KeyedCircuitBreakerLayer<K, F, C> {
    /// Decide with `classifier` which results count as failures, successes
    /// or nothing. See [`Classifier`](crate::Classifier).
    pub fn classifier<C2>(self, classifier: C2) -> KeyedCircuitBreakerLayer<K, F, C2> {
        KeyedCircuitBreakerLayer {
            breakers: self.breakers,
            key: self.key,
            classifier,
        }
    }

    /// The registry the layer's services share.
    pub fn breakers(&self) -> &KeyedBreakers<K> {
        &self.breakers
    }
}

// Written by hand: `K` need not be `Clone` to share the registry.
impl<K, F: Clone, C: Clone> Clone for KeyedCircuitBreakerLayer<K, F, C> {
    fn clone(&self) -> Self {
        Self {
            breakers: self.breakers.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

// Written by hand: key functions and classifiers are usually closures,
// which are not `Debug`; their type names stand in.
impl<K, F, C> fmt::Debug for KeyedCircuitBreakerLayer<K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerLayer")
            .field("breakers", &self.breakers)
            .field("key", &type_name::<F>())
            .field("classifier", &type_name::<C>())
            .finish()
    }
}

impl<S, K, F: Clone, C: Clone> Layer<S> for KeyedCircuitBreakerLayer<K, F, C> {
    type Service = KeyedCircuitBreaker<S, K, F, C>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreaker::new(
            inner,
            self.breakers.clone(),
            self.key.clone(),
            self.classifier.clone(),
        )
    }
}

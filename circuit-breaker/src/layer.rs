//! [`CircuitBreakerLayer`]: wraps services in a shared breaker.

use crate::breaker::Breaker;
use crate::classify::ErrorsAreFailures;
use crate::service::CircuitBreaker;
use tower_layer::Layer;

/// A tower layer that puts every service it wraps behind one [`Breaker`].
///
/// Every `Err` counts as a failure unless [`classifier`](Self::classifier)
/// says otherwise.
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = ErrorsAreFailures> {
    breaker: Breaker,
    classifier: C,
}

impl CircuitBreakerLayer {
    /// A layer over `breaker`, counting every `Err` as a failure.
    pub fn new(breaker: Breaker) -> Self {
        Self {
            breaker,
            classifier: ErrorsAreFailures,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Decide with `classifier` which results count as failures, successes
    /// or nothing. See [`Classifier`](crate::Classifier).
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }

    /// The breaker the layer's services share.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::new(inner, self.breaker.clone(), self.classifier.clone())
    }
}

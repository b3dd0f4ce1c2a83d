//! [`ServiceBuilderExt`]: `.circuit_breaker(&breaker)` on tower's `ServiceBuilder`.

use crate::breaker::Breaker;
use crate::layer::CircuitBreakerLayer;
use tower::ServiceBuilder;
use tower::layer::util::Stack;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds ballast's circuit breaker to tower's `ServiceBuilder`.
///
/// ```
/// use ballast_circuit_breaker::{Breaker, ServiceBuilderExt};
/// use tower::{ServiceBuilder, service_fn};
///
/// let breaker = Breaker::default();
/// let svc = ServiceBuilder::new()
///     .circuit_breaker(&breaker)
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
/// # let _ = svc;
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Puts the services built next behind `breaker` (shared, not copied).
    fn circuit_breaker(self, breaker: &Breaker) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn circuit_breaker(self, breaker: &Breaker) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>> {
        self.layer(breaker.layer())
    }
}

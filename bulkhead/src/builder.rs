//! [`ServiceBuilderExt`]: `.bulkhead(&bulkhead)` and its siblings on
//! tower's `ServiceBuilder`.

use crate::adaptive::{AdaptiveLayer, AdaptiveLimiter};
use crate::bulkhead::Bulkhead;
use crate::layer::BulkheadLayer;
use crate::partitioned::{PartitionId, PartitionedBulkhead, PartitionedLayer};
use crate::shed::{LoadShedLayer, LoadShedder, Priority};
use tower::ServiceBuilder;
use tower::layer::util::Stack;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds ballast's bulkheads to tower's `ServiceBuilder`.
///
/// Each method takes the limiter by reference and layers a handle to it, so
/// every service built shares the one limit (and its snapshot).
///
/// ```
/// use ballast_bulkhead::{Bulkhead, Config, ServiceBuilderExt};
/// use tower::{ServiceBuilder, service_fn};
///
/// let bulkhead = Bulkhead::new(Config::builder().max_concurrent_calls(8).build().unwrap());
/// let svc = ServiceBuilder::new()
///     .bulkhead(&bulkhead)
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
/// # let _ = svc;
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Puts the services built next behind the fixed `bulkhead` (shared,
    /// not copied).
    fn bulkhead(self, bulkhead: &Bulkhead) -> ServiceBuilder<Stack<BulkheadLayer, L>>;

    /// Puts the services built next behind the partitioned `bulkhead`,
    /// with `key` picking each request's partition.
    fn partitioned_bulkhead<F, Req>(
        self,
        bulkhead: &PartitionedBulkhead,
        key: F,
    ) -> ServiceBuilder<Stack<PartitionedLayer<F>, L>>
    where
        F: Fn(&Req) -> PartitionId + Clone;

    /// Sheds the calls of the services built next with `shedder`, reading
    /// each request's [`Priority`] with `priority`.
    ///
    /// Not named `load_shed`: tower's `ServiceBuilder` has an inherent
    /// `load_shed()` (feature `load-shed`), which would win over a trait
    /// method of the same name.
    fn shed_load<F, Req>(
        self,
        shedder: &LoadShedder,
        priority: F,
    ) -> ServiceBuilder<Stack<LoadShedLayer<F>, L>>
    where
        F: Fn(&Req) -> Priority + Clone;

    /// Puts the services built next behind the adaptive `limiter` (shared,
    /// not copied): a limit that follows what the dependency can take.
    fn adaptive_concurrency(
        self,
        limiter: &AdaptiveLimiter,
    ) -> ServiceBuilder<Stack<AdaptiveLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn bulkhead(self, bulkhead: &Bulkhead) -> ServiceBuilder<Stack<BulkheadLayer, L>> {
        self.layer(bulkhead.layer())
    }

    fn partitioned_bulkhead<F, Req>(
        self,
        bulkhead: &PartitionedBulkhead,
        key: F,
    ) -> ServiceBuilder<Stack<PartitionedLayer<F>, L>>
    where
        F: Fn(&Req) -> PartitionId + Clone,
    {
        self.layer(bulkhead.layer(key))
    }

    fn shed_load<F, Req>(
        self,
        shedder: &LoadShedder,
        priority: F,
    ) -> ServiceBuilder<Stack<LoadShedLayer<F>, L>>
    where
        F: Fn(&Req) -> Priority + Clone,
    {
        self.layer(shedder.layer(priority))
    }

    fn adaptive_concurrency(
        self,
        limiter: &AdaptiveLimiter,
    ) -> ServiceBuilder<Stack<AdaptiveLayer, L>> {
        self.layer(limiter.layer())
    }
}

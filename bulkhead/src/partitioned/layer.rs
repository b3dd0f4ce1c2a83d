//! [`PartitionedLayer`]: the tower layer.

use super::bulkhead::PartitionedBulkhead;
use super::service::Partitioned;
use std::fmt;
use tower_layer::Layer;

/// Puts services behind a [`PartitionedBulkhead`], picking each request's
/// partition with `F`; every service it makes shares the bulkhead.
#[derive(Clone)]
pub struct PartitionedLayer<F> {
    bulkhead: PartitionedBulkhead,
    key: F,
}

impl<F> PartitionedLayer<F> {
    /// A layer for `bulkhead`, with `key` picking each request's partition.
    pub fn new(bulkhead: PartitionedBulkhead, key: F) -> Self {
        Self { bulkhead, key }
    }
}

impl<S, F: Clone> Layer<S> for PartitionedLayer<F> {
    type Service = Partitioned<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        Partitioned::new(inner, self.bulkhead.clone(), self.key.clone())
    }
}

impl<F> fmt::Debug for PartitionedLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionedLayer")
            .field("bulkhead", &self.bulkhead)
            .finish_non_exhaustive()
    }
}

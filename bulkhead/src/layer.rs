//! [`BulkheadLayer`]: the tower layer.

use crate::bulkhead::Bulkhead;
use crate::service::FixedBulkhead;
use tower_layer::Layer;

/// Puts services behind a [`Bulkhead`]; every service it makes shares it.
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
}

impl BulkheadLayer {
    /// A layer for `bulkhead`.
    pub fn new(bulkhead: Bulkhead) -> Self {
        Self { bulkhead }
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = FixedBulkhead<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FixedBulkhead::new(inner, self.bulkhead.clone())
    }
}

//! A partitioned bulkhead: the concurrency limit split between partitions
//! (tenants, priority classes) picked by a key function over the request,
//! each guaranteed its share, idle shares lent to busy partitions and
//! returned as their owners need them.
//!
//! ```
//! use ballast_bulkhead::partitioned::{PartitionedBulkhead, PartitionedConfig};
//! use ballast_bulkhead::{Reason, Rejected};
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ballast_bulkhead::BoxError> {
//! // 10 calls: tenant "acme" is guaranteed 6, everyone else shares 4.
//! let bulkhead = PartitionedBulkhead::new(
//!     PartitionedConfig::builder()
//!         .max_concurrent_calls(10)
//!         .partition("acme", 6)
//!         .build()?,
//! );
//! let by_tenant = {
//!     let b = bulkhead.clone();
//!     move |req: &(&'static str, u32)| b.partition(req.0)
//! };
//! let mut svc = ServiceBuilder::new()
//!     .layer(bulkhead.layer(by_tenant))
//!     .service(service_fn(|req: (&'static str, u32)| async move {
//!         Ok::<_, std::io::Error>(req.1)
//!     }));
//! assert_eq!(svc.ready().await?.call(("acme", 1)).await?, 1);
//! assert_eq!(svc.ready().await?.call(("globex", 2)).await?, 2); // the default partition
//! let snapshot = bulkhead.snapshot();
//! assert_eq!(snapshot.partitions[0].name.as_ref(), "acme");
//! assert_eq!((snapshot.partitions[1].name.as_ref(), snapshot.partitions[1].share), ("default", 4));
//! # Ok(()) }
//! ```
//!
//! - [`PartitionedConfig`] / [`PartitionedConfigBuilder`]: limit, named
//!   partitions and shares, the default partition, `kept_free`, shadow
//!   mode.
//! - [`PartitionedBulkhead`]: the shared limiter and handle (what is
//!   guaranteed is written there), [`PartitionedSnapshot`] per partition,
//!   the async helper [`PartitionedBulkhead::call`], refusals as
//!   [`PartitionRejected`].
//! - [`PartitionedLayer`] / [`Partitioned`] / [`PartitionedFuture`]: the
//!   tower layer, service and future.
//!
//! With feature `serde`, a [`PartitionedConfig`] is `Deserialize` (and
//! `Serialize`), checked like the builder's, unknown fields refused; every
//! field is optional, and partitions are a list (their order is the
//! snapshot's):
//!
//! ```json
//! {
//!     "name": "tenants",
//!     "max_concurrent_calls": 10,
//!     "partitions": [{ "name": "acme", "share": 6 }, { "name": "globex", "share": 2 }],
//!     "default_partition": "others",
//!     "kept_free": 1,
//!     "shadow": false
//! }
//! ```
//!
//! Inside: `core` holds the pools (one atomic word per partition; its
//! module docs hold the implementation notes).

mod bulkhead;
mod config;
#[cfg(feature = "serde")]
mod config_serde;
pub(crate) mod core;
mod error;
mod layer;
#[cfg(all(test, ballast_loom))]
mod loom_models;
mod permit;
mod service;

pub use bulkhead::{PartitionId, PartitionSnapshot, PartitionedBulkhead, PartitionedSnapshot};
pub use config::{PartitionedConfig, PartitionedConfigBuilder};
pub use error::PartitionRejected;
pub use layer::PartitionedLayer;
pub use service::{Partitioned, PartitionedFuture};

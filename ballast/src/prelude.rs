//! The names every ballast stack uses, for `use ballast::prelude::*`.
//!
//! Only names that mean one thing across the family: each crate's
//! `Config` stays in its module (`ballast::retry::Config`). The
//! [`ServiceBuilderExt`](crate::ServiceBuilderExt) methods come in
//! unnamed (`as _`), so the glob clashes with no other crate's trait of
//! that name (tower-http's).

pub use crate::ServiceBuilderExt as _;
pub use ballast_core::{BoxError, Reason, Rejected, RetryAfter, Side};

#[cfg(feature = "bulkhead")]
pub use ballast_bulkhead::{
    Bulkhead, adaptive::AdaptiveLimiter, partitioned::PartitionedBulkhead, shed::LoadShedder,
    shed::Priority,
};
#[cfg(feature = "circuit-breaker")]
pub use ballast_circuit_breaker::Breaker;
#[cfg(feature = "deadline")]
pub use ballast_deadline::Deadline;
#[cfg(feature = "ratelimit")]
pub use ballast_ratelimit::{KeyedRateLimiter, RateLimiter};
#[cfg(feature = "retry")]
pub use ballast_retry::HedgePolicy;

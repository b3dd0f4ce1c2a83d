//! What the ballast crates' tests share, used only as a dev-dependency
//! (never published):
//!
//! - [`metrics`]: [`Recording`](metrics::Recording), a `metrics`
//!   recorder that keeps every counter and gauge a policy registers, so a
//!   test reads back what was reported under the family's names.
//! - [`config_path`]: an application's config file holding ballast
//!   configs, read through `ballast_core::config_file`, to check that a
//!   mistake names its key path as written in the file.
//! - [`service`]: the rule for tests that need a real service (PostgreSQL,
//!   Redis, NATS, RabbitMQ): skip with a printed reason when its variable
//!   is unset, fail when `BALLAST_REQUIRE_SERVICES=1` (CI).

pub mod config_path;
pub mod metrics;
mod service;

pub use service::service;

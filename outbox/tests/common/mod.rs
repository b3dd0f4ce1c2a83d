//! Helpers the outbox's integration tests share: reaching a service through
//! its environment variable, and unique names for what a test creates.

#![allow(dead_code)] // each test binary uses a part

/// The service URL in `var`, or `None` after printing why `test` skips;
/// panics when `BALLAST_REQUIRE_SERVICES=1` (the rule every ballast test
/// keeps, in `ballast-test-support`).
#[allow(unused_imports)] // each test binary uses a part
pub use ballast_test_support::service;

/// `prefix_` and 12 random hex digits: a table, stream, queue or exchange
/// name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    // The tail of a UUID v7 is random (its head is the time).
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{prefix}_{}", &id[20..])
}

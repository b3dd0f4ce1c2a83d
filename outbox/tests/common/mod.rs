//! Helpers the outbox's integration tests share: reaching a service through
//! its environment variable, and unique names for what a test creates.

#![allow(dead_code)] // each test binary uses a part

/// The service URL in `var`, or `None` after printing why `test` skips.
/// Panics instead when `BALLAST_REQUIRE_SERVICES=1` (CI), so a missing
/// service fails the run rather than passing it silently.
pub fn service(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("BALLAST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "{test} needs {var} and BALLAST_REQUIRE_SERVICES=1; run `eval \"$(scripts/services)\"`"
            )
        }
        _ => {
            eprintln!("skipping {test}: {var} not set");
            None
        }
    }
}

/// `prefix_` and 12 random hex digits: a table, stream, queue or exchange
/// name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    // The tail of a UUID v7 is random (its head is the time).
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{prefix}_{}", &id[20..])
}

//! Reaching a service from a test through its environment variable.

/// The service URL in `var` (`"BALLAST_PG_URL"`, `"BALLAST_REDIS_URL"`,
/// ...), or `None` after printing why `test` skips.
///
/// Panics instead when `BALLAST_REQUIRE_SERVICES=1` (CI sets it), so a
/// missing service fails the run rather than passing it silently.
pub fn service(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("BALLAST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "{test}: {var} is not set and BALLAST_REQUIRE_SERVICES=1; run `eval \"$(scripts/services)\"`"
            )
        }
        _ => {
            eprintln!("skipping {test}: {var} is not set (run `eval \"$(scripts/services)\"`)");
            None
        }
    }
}

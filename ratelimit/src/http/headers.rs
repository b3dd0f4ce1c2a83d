//! The header fields of the HTTP layer: `Retry-After` and the rate-limit
//! fields, computed from the limit and its [`Usage`].
//!
//! How a limit reads as a quota policy (`q` units per `w` seconds):
//!
//! - GCRA: `q` is the burst, `w` the burst window (the time an emptied
//!   limit takes to refill), so the sustained rate is `q / w`; a config of
//!   `rate(100, 60s)` reads `q=100;w=60`.
//! - Fixed or sliding window: `q` is the limit, `w` the window's length.
//!
//! The current state (`RateLimit`): `r` is the cells a request could take
//! now without waiting (rounded down), `t` the seconds until the limit is
//! back to full (a GCRA's `TAT − now`; the end of a fixed window; the time
//! a sliding window forgets every counted cell), rounded up so a client
//! that waits `t` finds the quota whole. `Retry-After` on a 429 is the
//! exact wait until one request would pass, rounded up, and at least 1.

use super::config::{HeaderStyle, HttpConfig};
use crate::config::Limit;
use crate::state::Usage;
use ballast_core::{Nanos, Rejected, Side};
use http::Response;
use http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

/// `RateLimit-Policy` (draft -08 and later): the quota policy.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (draft -08 and later): the quota that remains.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `RateLimit-Limit` (drafts -03 to -06): the quota.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining` (drafts -03 to -06): what remains of it.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset` (drafts -03 to -06): seconds until it is whole again.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

const SEC: Nanos = 1_000_000_000;

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(ns: Nanos) -> u64 {
    ns.div_ceil(SEC)
}

/// The fields of one layer: what never changes is formatted once.
#[derive(Debug)]
pub(crate) struct Fields {
    style: HeaderStyle,
    on_admitted: bool,
    name: Box<str>,
    /// `RateLimit-Policy`, if the IETF fields are written.
    policy: Option<HeaderValue>,
    /// `RateLimit-Limit`, if the legacy fields are written.
    limit: Option<HeaderValue>,
}

impl Fields {
    pub(crate) fn new(config: &HttpConfig, limit: &Limit) -> Self {
        let (q, w) = match *limit {
            Limit::Gcra(quota) => {
                let burst = quota.burst.get();
                (burst, u64::from(burst).saturating_mul(quota.interval))
            }
            Limit::FixedWindow(w) | Limit::SlidingWindow(w) => (w.limit, w.length),
        };
        let w = ceil_secs(w).max(1);
        let (ietf, legacy) = match config.style {
            HeaderStyle::Ietf => (true, false),
            HeaderStyle::Legacy => (false, true),
            HeaderStyle::Both => (true, true),
            HeaderStyle::RetryAfterOnly => (false, false),
        };
        let name = &config.policy_name;
        Self {
            style: config.style,
            on_admitted: config.on_admitted,
            name: name.as_ref().into(),
            policy: ietf.then(|| value(format!("\"{name}\";q={q};w={w}"))),
            limit: legacy.then(|| HeaderValue::from(q)),
        }
    }

    /// Whether admitted responses need the limit's usage.
    pub(crate) fn on_admitted(&self) -> bool {
        self.on_admitted && self.style != HeaderStyle::RetryAfterOnly
    }

    /// Writes the rate-limit fields for `usage`.
    pub(crate) fn write(&self, headers: &mut HeaderMap, usage: Usage) {
        let t = ceil_secs(usage.reset);
        if let Some(policy) = &self.policy {
            headers.insert(RATELIMIT_POLICY, policy.clone());
            let state = format!("\"{}\";r={};t={t}", self.name, usage.remaining);
            headers.insert(RATELIMIT, value(state));
        }
        if let Some(limit) = &self.limit {
            headers.insert(RATELIMIT_LIMIT, limit.clone());
            headers.insert(RATELIMIT_REMAINING, HeaderValue::from(usage.remaining));
            headers.insert(RATELIMIT_RESET, HeaderValue::from(t));
        }
    }

    /// The response refusing a request for `rejected`, with `Retry-After`
    /// and the fields. Its status is the family's
    /// [table](ballast_core::answer) for a server-side refusal: 429 for
    /// "not now", 400 for a request that can never pass
    /// ([`RetryAfter::Never`](ballast_core::RetryAfter::Never)), which a
    /// 429 would invite the client to retry.
    pub(crate) fn refusal<B>(
        &self,
        body: B,
        rejected: &Rejected,
        usage: Option<Usage>,
    ) -> Response<B> {
        let mut res = Response::new(body);
        *res.status_mut() = rejected.http_status(Side::Server);
        let headers = res.headers_mut();
        if let Some(wait) = rejected.retry_after_hint() {
            let secs = ceil_secs(ballast_core::nanos(wait)).max(1);
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(usage) = usage {
            self.write(headers, usage);
        }
        res
    }
}

/// A field value from text the config checked (printable ASCII).
fn value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).expect("printable ASCII, checked by HttpConfig")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::Quota;
    use crate::window::Window;
    use ballast_core::Reason;
    use std::num::NonZeroU32;
    use std::time::Duration;

    fn fields(style: HeaderStyle, limit: Limit) -> Fields {
        let config = HttpConfig::builder().style(style).build().unwrap();
        Fields::new(&config, &limit)
    }

    fn per_minute(n: u32) -> Limit {
        Limit::Gcra(Quota::per_minute(NonZeroU32::new(n).unwrap()))
    }

    #[test]
    fn gcra_policy_is_its_burst_per_burst_window() {
        let f = fields(HeaderStyle::Ietf, per_minute(100));
        assert_eq!(f.policy.as_ref().unwrap(), "\"default\";q=100;w=60");
        // 3 per second: a burst window of 999,999,999ns reads as 1s.
        let q = Quota::per_second(NonZeroU32::new(3).unwrap());
        let f = fields(HeaderStyle::Ietf, Limit::Gcra(q));
        assert_eq!(f.policy.as_ref().unwrap(), "\"default\";q=3;w=1");
        // A window shorter than a second still reads as 1s, never 0.
        let q = Quota::with_period(Duration::from_millis(10)).unwrap();
        let f = fields(HeaderStyle::Ietf, Limit::Gcra(q));
        assert_eq!(f.policy.as_ref().unwrap(), "\"default\";q=1;w=1");
    }

    #[test]
    fn window_policy_is_its_limit_per_length() {
        let w = Window::new(50, Duration::from_millis(2500)).unwrap();
        let f = fields(HeaderStyle::Ietf, Limit::FixedWindow(w));
        assert_eq!(f.policy.as_ref().unwrap(), "\"default\";q=50;w=3");
    }

    #[test]
    fn each_style_writes_its_own_fields() {
        let usage = Usage {
            remaining: 7,
            reset: 4 * SEC + 1,
        };
        let mut h = HeaderMap::new();
        fields(HeaderStyle::Both, per_minute(100)).write(&mut h, usage);
        assert_eq!(h[RATELIMIT], "\"default\";r=7;t=5");
        assert_eq!(h[RATELIMIT_LIMIT], "100");
        assert_eq!(h[RATELIMIT_REMAINING], "7");
        assert_eq!(h[RATELIMIT_RESET], "5");
        let mut h = HeaderMap::new();
        fields(HeaderStyle::Legacy, per_minute(100)).write(&mut h, usage);
        assert!(!h.contains_key(RATELIMIT) && !h.contains_key(RATELIMIT_POLICY));
        assert_eq!(h.len(), 3);
        let mut h = HeaderMap::new();
        let f = fields(HeaderStyle::RetryAfterOnly, per_minute(100));
        f.write(&mut h, usage);
        assert!(h.is_empty());
        assert!(!f.on_admitted());
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let f = fields(HeaderStyle::Ietf, per_minute(100));
        for (wait, secs) in [(1, "1"), (SEC, "1"), (SEC + 1, "2"), (59 * SEC + 5, "60")] {
            let r = Rejected::retry_after(Reason::RateLimited, Duration::from_nanos(wait));
            let res = f.refusal((), &r, None);
            assert_eq!(res.status(), http::StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(res.headers()[RETRY_AFTER], secs, "wait {wait}ns");
        }
    }

    #[test]
    fn a_permanent_refusal_is_400_without_retry_after_as_the_table_says() {
        let f = fields(HeaderStyle::Ietf, per_minute(100));
        let usage = Usage {
            remaining: 0,
            reset: SEC,
        };
        let never = Rejected::never(Reason::RateLimited);
        let res = f.refusal((), &never, Some(usage));
        assert_eq!(res.status(), http::StatusCode::BAD_REQUEST);
        assert_eq!(res.status(), never.http_status(ballast_core::Side::Server));
        assert!(!res.headers().contains_key(RETRY_AFTER));
        assert_eq!(res.headers()[RATELIMIT], "\"default\";r=0;t=1");
    }
}

//! The adaptive limiter's `tracing` events: every refusal, every call over
//! the limit in shadow mode, and every limit change with old, new,
//! algorithm and why.

use ballast_bulkhead::adaptive::{AdaptiveConfig, AdaptiveLimiter, Aimd};
mod common;

use common::events_of;

fn aimd(limit: u32, shadow: bool) -> AdaptiveLimiter {
    AdaptiveLimiter::new(
        AdaptiveConfig::builder()
            .name("inventory")
            .initial_limit(limit)
            .min_window_samples(1)
            .shadow(shadow)
            .algorithm(Aimd::default())
            .build()
            .unwrap(),
    )
}

#[test]
fn a_refusal_is_an_event_naming_the_limiter_and_the_reason() {
    let limiter = aimd(1, false);
    let events = events_of(|| {
        let _held = limiter.acquire().unwrap();
        limiter.acquire().unwrap_err();
    });
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert!(e.contains("message=call rejected"), "{e}");
    assert!(e.contains("limiter=inventory"), "{e}");
    assert!(e.contains("algorithm=\"aimd\""), "{e}");
    assert!(e.contains("limit=1"), "{e}");
    assert!(e.contains("reason=overloaded"), "{e}");
}

#[test]
fn every_limit_change_is_an_event_with_old_new_algorithm_and_why() {
    let limiter = aimd(2, false);
    let events = events_of(|| {
        // Two calls under a limit of 2: a window with no drops, +1.
        let (a, b) = (limiter.acquire().unwrap(), limiter.acquire().unwrap());
        a.success();
        b.success();
        // Three under 3, one dropped: backed off to 2.
        let calls: Vec<_> = (0..3).map(|_| limiter.acquire().unwrap()).collect();
        for (i, c) in calls.into_iter().enumerate() {
            if i == 0 { c.dropped() } else { c.success() }
        }
        limiter.set_limit(5);
    });
    let changes: Vec<_> = events
        .iter()
        .filter(|e| e.contains("adaptive limit changed"))
        .collect();
    assert_eq!(changes.len(), 3, "{events:?}");
    for (e, (old, new, why)) in
        changes
            .iter()
            .zip([(2, 3, "no drops"), (3, 2, "drop"), (2, 5, "set by hand")])
    {
        assert!(e.contains("limiter=inventory"), "{e}");
        assert!(e.contains("algorithm=\"aimd\""), "{e}");
        assert!(e.contains(&format!("old={old} new={new} ")), "{e}");
        assert!(e.contains(&format!("why=\"{why}\"")), "{e}");
    }
    assert_eq!(limiter.snapshot().limit_changes, 3);
}

#[test]
fn shadow_mode_reports_each_call_it_would_have_refused() {
    let limiter = aimd(1, true);
    let events = events_of(|| {
        let _a = limiter.acquire().unwrap();
        let _b = limiter.acquire().unwrap();
    });
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("shadow mode"), "{}", events[0]);
    assert!(events[0].contains("limiter=inventory"), "{}", events[0]);
}

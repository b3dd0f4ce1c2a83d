//! Every refusal is a `tracing` event naming the limiter, and the
//! partition or priority where there is one; shadow mode reports what it
//! would have refused.

use ballast_bulkhead::partitioned::{PartitionedBulkhead, PartitionedConfig};
use ballast_bulkhead::shed::{LoadShedder, Priority, ShedConfig};
use ballast_bulkhead::{Bulkhead, Config};
use futures::FutureExt;
mod common;

use common::events_of;

#[test]
fn a_full_fixed_bulkhead_reports_each_rejection() {
    let b = Bulkhead::new(
        Config::builder()
            .name("inventory")
            .max_concurrent_calls(1)
            .build()
            .unwrap(),
    );
    let events = events_of(|| {
        let mut held = Box::pin(b.call(std::future::pending::<()>));
        assert!((&mut held).now_or_never().is_none());
        assert!(b.call(|| async {}).now_or_never().unwrap().is_err());
    });
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("call rejected"), "{events:?}");
    assert!(events[0].contains("bulkhead=inventory"), "{events:?}");
    assert!(events[0].contains("bulkhead full"), "{events:?}");
}

#[test]
fn a_shed_call_is_reported_with_its_priority() {
    let s = LoadShedder::new(
        ShedConfig::builder()
            .name("api")
            .max_in_flight(1)
            .build()
            .unwrap(),
    );
    let events = events_of(|| {
        let mut held = Box::pin(s.call(Priority::Critical, std::future::pending::<()>));
        assert!((&mut held).now_or_never().is_none());
        assert!(
            s.call(Priority::Low, || async {})
                .now_or_never()
                .unwrap()
                .is_err()
        );
    });
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("call shed"), "{events:?}");
    assert!(events[0].contains("shedder=api"), "{events:?}");
    assert!(events[0].contains("priority=\"low\""), "{events:?}");
}

#[test]
fn a_partitions_rejection_names_the_partition() {
    let b = PartitionedBulkhead::new(
        PartitionedConfig::builder()
            .name("tenants")
            .max_concurrent_calls(1)
            .partition("acme", 1)
            .build()
            .unwrap(),
    );
    let acme = b.partition("acme");
    let events = events_of(|| {
        let mut held = Box::pin(b.call(acme, std::future::pending::<()>));
        assert!((&mut held).now_or_never().is_none());
        assert!(b.call(acme, || async {}).now_or_never().unwrap().is_err());
    });
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("call rejected"), "{events:?}");
    assert!(events[0].contains("bulkhead=tenants"), "{events:?}");
    assert!(events[0].contains("partition=acme"), "{events:?}");
}

#[test]
fn shadow_mode_reports_what_it_would_have_refused() {
    let b = Bulkhead::new(
        Config::builder()
            .max_concurrent_calls(1)
            .shadow(true)
            .build()
            .unwrap(),
    );
    let s = LoadShedder::new(
        ShedConfig::builder()
            .max_in_flight(1)
            .shadow(true)
            .build()
            .unwrap(),
    );
    let p = PartitionedBulkhead::new(
        PartitionedConfig::builder()
            .max_concurrent_calls(1)
            .shadow(true)
            .build()
            .unwrap(),
    );
    let d = p.default_partition();
    let events = events_of(|| {
        let mut held = Box::pin(b.call(std::future::pending::<()>));
        assert!((&mut held).now_or_never().is_none());
        assert!(b.call(|| async {}).now_or_never().unwrap().is_ok());
        let mut held = Box::pin(s.call(Priority::High, std::future::pending::<()>));
        assert!((&mut held).now_or_never().is_none());
        assert!(
            s.call(Priority::High, || async {})
                .now_or_never()
                .unwrap()
                .is_ok()
        );
        let mut held = Box::pin(p.call(d, std::future::pending::<()>));
        assert!((&mut held).now_or_never().is_none());
        assert!(p.call(d, || async {}).now_or_never().unwrap().is_ok());
    });
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(
        events[0].contains("over the limit (shadow mode)"),
        "{events:?}"
    );
    assert!(events[0].contains("would_have=\"rejected\""), "{events:?}");
    assert!(
        events[1].contains("would have been shed (shadow mode)"),
        "{events:?}"
    );
    assert!(
        events[2].contains("would have been rejected (shadow mode)"),
        "{events:?}"
    );
}

//! A recording `metrics` recorder: keeps every counter and gauge a policy
//! registers, so a test reads back what was reported.
//!
//! A policy registers its series when it is built, with the recorder of
//! that moment: build it inside `metrics::with_local_recorder(recording, ..)`
//! and every later call reports into the recording, on any thread.
//! Histograms are not kept.
//!
//! ```
//! let recording = ballast_test_support::metrics::recording();
//! let calls = metrics::with_local_recorder(&recording, || {
//!     metrics::counter!("ballast_test_calls", "name" => "a")
//! });
//! calls.increment(2);
//! assert_eq!(recording.counter("ballast_test_calls", &[("name", "a")]), 2);
//! ```

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Keeps every registered counter and gauge by its name and sorted labels.
///
/// A recorder for `metrics::with_local_recorder` as `&'static Recording`
/// ([`recording`] makes one).
#[derive(Default)]
pub struct Recording {
    series: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
}

/// A series' name and labels as one sortable string: `name{k=v,..}`.
fn id(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

impl Recording {
    /// The shared cell of `key`'s series, made on first use.
    fn slot(&self, key: &Key) -> Arc<AtomicU64> {
        let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
        let mut series = self.series.lock().unwrap();
        series.entry(id(key.name(), &labels)).or_default().clone()
    }

    /// The value of the counter `name` with exactly `labels` (in any
    /// order). Panics if no such series was registered.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let series = self.series.lock().unwrap();
        let slot = series.get(&id(name, labels));
        slot.unwrap_or_else(|| panic!("no series {}", id(name, labels)))
            // Relaxed: the test reads after the calls it awaited; nothing
            // else is ordered by this value.
            .load(Ordering::Relaxed)
    }

    /// The value of the gauge `name` with exactly `labels` (in any
    /// order). Panics if no such series was registered.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        f64::from_bits(self.counter(name, labels))
    }

    /// Every series registered so far, as `name{k=v,..}` with the labels
    /// sorted, in order: to check which series exist (and that no others
    /// do).
    pub fn series(&self) -> Vec<String> {
        self.series.lock().unwrap().keys().cloned().collect()
    }
}

impl Recorder for &'static Recording {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.slot(key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.slot(key))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// A new recording that lives as long as the test binary (leaked: one
/// per test, a few hundred bytes).
pub fn recording() -> &'static Recording {
    Box::leak(Box::default())
}

/// A recorder whose every series is an atomic counter of its own, kept by
/// no one: what reporting costs a policy when an exporter's handles are
/// plain atomics (the `metrics_cost` benches' "atomic recorder" rows).
pub struct Atomics;

impl Recorder for Atomics {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(AtomicU64::new(0)))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(AtomicU64::new(0)))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

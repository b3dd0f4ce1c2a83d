//! A recording `metrics` recorder for the metrics tests: keeps every
//! registered counter and gauge so a test can read what was reported.
//!
//! Include with `#[path = "common/recorder.rs"] mod recorder;`.
#![allow(dead_code)]

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Keeps every registered counter and gauge by its name and sorted labels.
#[derive(Default)]
pub struct Recording {
    series: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
}

fn id(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

impl Recording {
    fn slot(&self, key: &Key) -> Arc<AtomicU64> {
        let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
        let mut series = self.series.lock().unwrap();
        series.entry(id(key.name(), &labels)).or_default().clone()
    }

    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let series = self.series.lock().unwrap();
        let slot = series.get(&id(name, labels));
        slot.unwrap_or_else(|| panic!("no series {}", id(name, labels)))
            .load(Ordering::Relaxed)
    }

    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        f64::from_bits(self.counter(name, labels))
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

/// A recorder that lives as long as the test binary.
pub fn recording() -> &'static Recording {
    Box::leak(Box::default())
}

//! A `tracing` layer that collects the events of the retry and hedging
//! tests: each event's message and its `attempt`, `delay` and `reason`
//! fields. Each test binary uses only some of it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One event: its message and its `attempt`, `delay` and `reason` fields.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Event {
    pub message: String,
    pub attempt: Option<u64>,
    pub delay: Option<String>,
    pub reason: Option<String>,
}

impl Visit for Event {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "attempt" {
            self.attempt = Some(value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "reason" {
            self.reason = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "delay" => self.delay = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

/// Collects every event into a shared list.
#[derive(Clone, Default)]
pub struct Collect(Arc<Mutex<Vec<Event>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Collect {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut e = Event::default();
        event.record(&mut e);
        self.0.lock().unwrap().push(e);
    }
}

impl Collect {
    /// `(message, attempt)` of every event so far whose message starts
    /// with `prefix`; each must carry its attempt number.
    pub fn trail_of(&self, prefix: &str) -> Vec<(String, u64)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.message.starts_with(prefix))
            .map(|e| {
                let attempt = e.attempt.expect("every event has its attempt");
                (e.message.clone(), attempt)
            })
            .collect()
    }

    /// Every event so far.
    pub fn all(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}

/// A collector installed as this thread's default subscriber until the
/// guard drops.
pub fn collecting() -> (Collect, tracing::subscriber::DefaultGuard) {
    let collect = Collect::default();
    let subscriber = tracing_subscriber::registry().with(collect.clone());
    (collect, tracing::subscriber::set_default(subscriber))
}

//! What the hop span records, in a test binary of its own: tracing caches
//! whether a callsite is wanted across threads, and a test in the same
//! binary hitting the same callsites on another thread, with no subscriber,
//! can race the cache so this test's subscriber sees no span (it failed
//! that way once in CI while sharing a binary with the other propagation
//! tests).
#![cfg(feature = "http")]

use ballast_deadline::codec::DEFAULT_TIMEOUT_MS_HEADER;
use ballast_deadline::propagate::{ReceiveDeadlineLayer, SendConfig, SendDeadlineLayer};
use http::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::{ServiceBuilder, ServiceExt, service_fn};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn margin(n: u64) -> SendConfig {
    SendConfig::builder().margin(ms(n)).build().unwrap()
}

fn request(headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::builder();
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

/// A span's name and the fields recorded on it so far.
type SpanFields = (&'static str, HashMap<String, String>);

/// A tracing layer that keeps every span's recorded fields.
#[derive(Default, Clone)]
struct Recorder {
    spans: Arc<Mutex<HashMap<u64, SpanFields>>>,
}

struct Visit<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for Visit<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorder {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = HashMap::new();
        attrs.record(&mut Visit(&mut fields));
        let mut spans = self.spans.lock().unwrap();
        spans.insert(id.into_u64(), (attrs.metadata().name(), fields));
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some((_, fields)) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Visit(fields));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn each_hop_records_received_used_and_passed_on_in_its_span() {
    let recorder = Recorder::default();
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let next =
        service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(String::new())) });
    let hop = ServiceBuilder::new()
        .layer(ReceiveDeadlineLayer::default())
        .service(service_fn(move |_: Request<()>| async move {
            tokio::time::sleep(ms(40)).await;
            let client = ServiceBuilder::new()
                .layer(SendDeadlineLayer::new(margin(10)))
                .service(next);
            client.oneshot(Request::new(())).await
        }));
    let res = hop
        .oneshot(request(&[(DEFAULT_TIMEOUT_MS_HEADER, "300")]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let spans = recorder.spans.lock().unwrap();
    let (_, fields) = spans
        .values()
        .find(|(name, _)| *name == ballast_deadline::propagate::SPAN_NAME)
        .expect("a deadline.hop span");
    assert_eq!(fields["budget_received_us"], "300000");
    assert_eq!(fields["budget_passed_on_us"], "250000");
    assert_eq!(fields["time_used_us"], "40000");
    assert_eq!(fields["outcome"], "ok");
}

//! With feature `opentelemetry`, the enqueueing span's traceparent travels
//! in the headers and a consumer's span continues the producer's trace.
#![cfg(feature = "opentelemetry")]

mod support;

use ballast_outbox::{Config, Message, Outbox, Relay, RelayConfig};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use std::time::Duration;
use support::Recorder;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test(flavor = "current_thread")]
async fn the_consumer_span_continues_the_trace_of_the_span_that_enqueued() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("outbox-test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::new(support::sqlite(&dir).await, Config::default())
        .await
        .unwrap();
    let producer = tracing::info_span!("place order");
    let producer_trace = producer.context().span().span_context().trace_id();
    async {
        let mut tx = outbox.pool().begin().await.unwrap();
        outbox
            .enqueue(&mut tx, &Message::new("orders", "o-1", "{}"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    .instrument(producer)
    .await;

    let recorder = Recorder::default();
    let relay = Relay::start(
        &outbox,
        recorder.clone(),
        RelayConfig::builder()
            .poll_interval(Duration::from_millis(20))
            .build()
            .unwrap(),
    );
    recorder.wait_for(1, Duration::from_secs(10)).await;
    relay.shutdown().await;
    let envelope = recorder.seen.lock()[0].clone();
    let traceparent = envelope
        .headers
        .iter()
        .find(|(k, _)| k == "traceparent")
        .map(|(_, v)| v.clone())
        .expect("a traceparent header");
    assert!(
        traceparent.contains(&producer_trace.to_string()),
        "{traceparent}"
    );

    let consumer = tracing::info_span!("handle order");
    assert!(ballast_outbox::trace::link_to_producer(
        &consumer,
        &envelope.headers
    ));
    assert_eq!(
        consumer.context().span().span_context().trace_id(),
        producer_trace
    );
    assert!(!ballast_outbox::trace::link_to_producer(
        &tracing::info_span!("x"),
        &[("traceparent".into(), "00-garbage".into())]
    ));
}

//! Trace context across the broker (feature `opentelemetry`): the
//! enqueueing span's W3C `traceparent` goes into the message headers, and a
//! consumer's span takes it as its parent, so a trace runs from the
//! producer's request through the broker to the consumer's handling.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header name (W3C Trace Context).
pub const TRACEPARENT: &str = "traceparent";

/// The current span's `traceparent`, if it belongs to a sampled or
/// unsampled OpenTelemetry trace.
pub(crate) fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// Makes `span` a child of the producer's span whose `traceparent` is in
/// `headers` (as a publisher delivers them). Returns false, leaving `span`
/// as it was, when there is no valid `traceparent`.
///
/// ```no_run
/// # fn handle(envelope: &ballast_outbox::Envelope) {
/// let span = tracing::info_span!("handle order event");
/// ballast_outbox::trace::link_to_producer(&span, &envelope.headers);
/// let _entered = span.enter();
/// # }
/// ```
pub fn link_to_producer(span: &tracing::Span, headers: &[(String, String)]) -> bool {
    let Some(value) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(TRACEPARENT))
        .map(|(_, v)| v.as_str())
    else {
        return false;
    };
    let Some(sc) = parse(value) else { return false };
    span.set_parent(opentelemetry::Context::new().with_remote_span_context(sc))
        .is_ok()
}

fn parse(value: &str) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let sc = SpanContext::new(
        TraceId::from_hex(trace).ok()?,
        SpanId::from_hex(span).ok()?,
        TraceFlags::new(u8::from_str_radix(flags, 16).ok()?),
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}

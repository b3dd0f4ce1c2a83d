//! [`JetStreamPublisher`]: publishes to NATS JetStream and waits for the
//! stream's acknowledgement.

use super::{PublishError, Publisher};
use crate::{Envelope, header};
use async_nats::HeaderMap;
use async_nats::header::{HeaderName, HeaderValue, NATS_MESSAGE_ID};
use async_nats::jetstream::{self, context::PublishErrorKind};

/// A [`Publisher`] for NATS JetStream.
///
/// Each envelope is published on the subject `<prefix><topic>` (no prefix
/// unless [`with_subject_prefix`](Self::with_subject_prefix) sets one),
/// with the message's own headers plus:
///
/// - `Nats-Msg-Id`: the message id, so the stream drops a second copy of a
///   message published again inside its duplicate window (the relay
///   publishes at least once: a crash between the broker's ack and the
///   relay's commit publishes a message again).
/// - `Ballast-Id`, `Ballast-Key`, `Ballast-Seq` (see [`header`]).
///
/// `publish` resolves once the stream has stored the message. An ack
/// marked `duplicate: true` counts as success: the stream already holds
/// the message. Failures are classified for the relay:
///
/// - [`PublishError::Refused`]: the server answered about this message: no
///   stream listens on the subject, the message is larger than the server
///   or stream allows, a JetStream API error (a limit, a wrong expected
///   sequence), or a header the NATS protocol cannot carry.
/// - [`PublishError::Unavailable`]: no answer in time, the connection is
///   down or closed, or too many acks are pending.
///
/// Concurrent `publish` calls on one [`jetstream::Context`] pipeline over
/// its one connection: each waits for its own ack, none waits for another,
/// so one publisher serves all of the relay's keys at once. The ack
/// timeout is the context's (see `jetstream::ContextBuilder::timeout`).
#[derive(Debug, Clone)]
pub struct JetStreamPublisher {
    context: jetstream::Context,
    prefix: String,
}

impl JetStreamPublisher {
    /// A publisher on `context`, publishing each message on its topic as
    /// the subject.
    pub fn new(context: jetstream::Context) -> Self {
        Self {
            context,
            prefix: String::new(),
        }
    }

    /// Prepends `prefix` to every subject (say `"events."`, for topic
    /// `orders.placed` published on `events.orders.placed`).
    pub fn with_subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The JetStream context it publishes on.
    pub fn context(&self) -> &jetstream::Context {
        &self.context
    }
}

impl Publisher for JetStreamPublisher {
    async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        let headers = headers_of(envelope)?;
        let subject = format!("{}{}", self.prefix, envelope.topic);
        let ack = self
            .context
            .publish_with_headers(subject, headers, envelope.payload.clone())
            .await
            .map_err(classify)?;
        // A duplicate ack (`ack.duplicate`) is a success: the stream holds
        // the message from an earlier publish.
        ack.await.map_err(classify)?;
        Ok(())
    }
}

/// The envelope's headers plus the dedupe id and the Ballast-* headers. A
/// header NATS cannot carry (a `:` or control character in a name, a line
/// break in a value) refuses the message instead of panicking.
fn headers_of(envelope: &Envelope) -> Result<HeaderMap, PublishError> {
    let id = envelope.id.to_string();
    let mut headers = HeaderMap::new();
    for (name, value) in &envelope.headers {
        let name: HeaderName = name
            .parse()
            .map_err(|e| PublishError::refused(format!("header name {name:?}: {e}")))?;
        let value: HeaderValue = value
            .parse()
            .map_err(|e| PublishError::refused(format!("header value of {name}: {e}")))?;
        headers.append(name, value);
    }
    let key: HeaderValue = envelope
        .key
        .parse()
        .map_err(|e| PublishError::refused(format!("key as a header value: {e}")))?;
    // Ours replace any user header of the same name: the consumer relies on them.
    headers.insert(NATS_MESSAGE_ID, id.as_str());
    headers.insert(header::ID, id.as_str());
    headers.insert(header::KEY, key);
    headers.insert(header::SEQ, envelope.seq.to_string());
    Ok(headers)
}

/// Sorts a JetStream publish error into refused (the server answered about
/// this message) and unavailable (no answer).
fn classify(e: jetstream::context::PublishError) -> PublishError {
    match e.kind() {
        PublishErrorKind::StreamNotFound
        | PublishErrorKind::WrongLastMessageId
        | PublishErrorKind::WrongLastSequence
        | PublishErrorKind::MaxPayloadExceeded => PublishError::refused(e.to_string()),
        PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::MaxAckPending => PublishError::unavailable(e),
        // `Other` covers both: a JetStream API error answer or an invalid
        // subject is about this message; a closed connection or an
        // unreadable answer is not.
        PublishErrorKind::Other => {
            let about_message = std::error::Error::source(&e).is_some_and(|s| {
                s.is::<jetstream::Error>() || s.is::<async_nats::subject::SubjectError>()
            });
            if about_message {
                PublishError::refused(format!("{e}: {}", source_text(&e)))
            } else {
                PublishError::unavailable(e)
            }
        }
    }
}

fn source_text(e: &jetstream::context::PublishError) -> String {
    std::error::Error::source(e).map_or_else(String::new, |s| s.to_string())
}

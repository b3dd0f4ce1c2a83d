//! [`Message`]: what a service enqueues; [`Envelope`]: what the relay hands
//! a [`Publisher`](crate::Publisher).

use bytes::Bytes;
use serde::Serialize;
use uuid::Uuid;

/// One message to publish: a time-ordered id (UUID v7), a topic, an
/// ordering key (the aggregate id: messages of one key are published in the
/// order their transactions committed), headers and a payload.
///
/// Build it, then hand it to [`Outbox::enqueue`](crate::Outbox::enqueue)
/// inside the transaction that makes the business change.
///
/// ```
/// use ballast_outbox::Message;
///
/// let m = Message::json("orders.placed", "order-42", &serde_json::json!({"total": 1999}))
///     .unwrap()
///     .header("tenant", "acme");
/// assert_eq!(m.topic(), "orders.placed");
/// assert_eq!(m.key(), "order-42");
/// assert_eq!(m.headers(), &[("content-type".to_string(), "application/json".to_string()),
///                           ("tenant".to_string(), "acme".to_string())]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub(crate) id: Uuid,
    pub(crate) topic: String,
    pub(crate) key: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) payload: Bytes,
}

impl Message {
    /// A message with raw bytes as its payload and a new UUID v7 id.
    pub fn new(
        topic: impl Into<String>,
        key: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            topic: topic.into(),
            key: key.into(),
            headers: Vec::new(),
            payload: payload.into(),
        }
    }

    /// A message whose payload is `value` as JSON, with a
    /// `content-type: application/json` header.
    pub fn json<T: Serialize + ?Sized>(
        topic: impl Into<String>,
        key: impl Into<String>,
        value: &T,
    ) -> Result<Self, serde_json::Error> {
        let payload = serde_json::to_vec(value)?;
        Ok(Self::new(topic, key, payload).header("content-type", "application/json"))
    }

    /// Adds a header (kept in order; a name may repeat).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the generated id, for a caller that derives ids itself
    /// (an id must be unique: it is the deduplication key downstream).
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// The message id: unique, time-ordered, the deduplication key at the
    /// broker and in the inbox.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Where the message goes (a NATS subject, an AMQP routing key).
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The ordering key: messages of one key are published one at a time,
    /// in commit order.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The headers, in the order they were added.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The payload bytes.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}

/// A committed message on its way to the broker, as the relay hands it to a
/// [`Publisher`](crate::Publisher).
///
/// Besides what was enqueued it carries the key's sequence number: the
/// `seq`-th message committed for `key` (1, 2, 3, ... with no gaps), which
/// publishers send as the `Ballast-Seq` header so a consumer can check the
/// order for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The message id (send it as the broker's deduplication id).
    pub id: Uuid,
    /// Where the message goes.
    pub topic: String,
    /// The ordering key.
    pub key: String,
    /// The key's sequence number, in commit order, from 1.
    pub seq: i64,
    /// The partition the key hashes into.
    pub partition: u32,
    /// The headers given at enqueue.
    pub headers: Vec<(String, String)>,
    /// The payload bytes.
    pub payload: Bytes,
    /// How many earlier publishes the broker refused (0 on the first try).
    pub attempts: u32,
}

/// Header names every publisher sets besides the message's own headers.
pub mod header {
    /// The message id (UUID, hyphenated).
    pub const ID: &str = "Ballast-Id";
    /// The ordering key.
    pub const KEY: &str = "Ballast-Key";
    /// The key's sequence number (decimal).
    pub const SEQ: &str = "Ballast-Seq";
}

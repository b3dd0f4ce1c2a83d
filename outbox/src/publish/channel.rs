//! [`ChannelPublisher`]: publishes into a bounded tokio channel, for tests
//! and for an application that consumes its own messages in process.

use super::{PublishError, Publisher};
use crate::Envelope;
use parking_lot::Mutex;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The receiving end of a [`ChannelPublisher`]: every acknowledged publish
/// arrives here as its [`Envelope`], in the order it was acknowledged.
pub type Receiver = mpsc::Receiver<Envelope>;

/// A failure a [`ChannelPublisher`] reports instead of sending, set with
/// [`ChannelPublisher::set_fail`] to test how the relay handles a broker
/// that refuses messages or goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// Every publish returns [`PublishError::Refused`].
    Refuse,
    /// Every publish returns [`PublishError::Unavailable`].
    Unavailable,
}

/// A [`Publisher`] that sends each envelope into a bounded in-process
/// channel.
///
/// Use it in tests (read what the relay published from the [`Receiver`],
/// inject broker failures with [`set_fail`](Self::set_fail)) and in an
/// application that handles its own messages in process. `publish` waits
/// while the channel is full, so a slow reader slows the relay down instead
/// of growing a queue. A dropped [`Receiver`] is an outage
/// ([`PublishError::Unavailable`]).
///
/// Clones share the channel and the failure switch.
///
/// ```
/// use ballast_outbox::{ChannelPublisher, PublishError, Publisher};
/// use ballast_outbox::publish::Fail;
/// # use ballast_outbox::Envelope;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let envelope = Envelope { id: uuid::Uuid::now_v7(), topic: "t".into(), key: "k".into(),
/// #     seq: 1, partition: 0, headers: vec![], payload: "x".into(), attempts: 0 };
/// let (publisher, mut received) = ChannelPublisher::new(16);
/// publisher.publish(&envelope).await.unwrap();
/// assert_eq!(received.recv().await.unwrap().id, envelope.id);
///
/// publisher.set_fail(Some(Fail::Refuse));
/// assert!(matches!(publisher.publish(&envelope).await, Err(PublishError::Refused(_))));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ChannelPublisher {
    tx: mpsc::Sender<Envelope>,
    // A mutex, not an atomic: tests flip it rarely and it holds an enum.
    fail: Arc<Mutex<Option<Fail>>>,
}

impl ChannelPublisher {
    /// A publisher and the receiver of what it publishes; the channel holds
    /// up to `capacity` envelopes (a capacity of 0 is taken as 1).
    pub fn new(capacity: usize) -> (ChannelPublisher, Receiver) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let publisher = ChannelPublisher {
            tx,
            fail: Arc::new(Mutex::new(None)),
        };
        (publisher, rx)
    }

    /// Makes every later publish (of this publisher and its clones) fail
    /// with `fail`, or, with `None`, succeed again.
    pub fn set_fail(&self, fail: Option<Fail>) {
        *self.fail.lock() = fail;
    }
}

impl Publisher for ChannelPublisher {
    async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        let fail = *self.fail.lock();
        match fail {
            Some(Fail::Refuse) => Err(PublishError::refused("refused by test switch")),
            Some(Fail::Unavailable) => Err(PublishError::unavailable("unavailable by test switch")),
            None => self
                .tx
                .send(envelope.clone())
                .await
                .map_err(|_| PublishError::unavailable("the channel's receiver was dropped")),
        }
    }
}

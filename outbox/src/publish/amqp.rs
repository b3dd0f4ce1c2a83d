//! [`AmqpPublisher`]: publishes to RabbitMQ (AMQP 0-9-1) with publisher
//! confirms.

use super::{PublishError, Publisher};
use crate::{Envelope, header};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};

/// AMQP's persistent delivery mode: the broker writes the message to disk
/// (in a durable queue) before it confirms.
const PERSISTENT: u8 = 2;

/// A [`Publisher`] for RabbitMQ over a [`lapin::Channel`] in confirm mode.
///
/// Each envelope is published to the configured exchange with its topic as
/// the routing key, `mandatory` set, persistent delivery mode, the message
/// id as the AMQP `message_id` property, and the message's headers plus
/// `Ballast-Id`, `Ballast-Key` and `Ballast-Seq` as AMQP headers (string
/// values; a header name given twice keeps its last value, AMQP headers
/// being a table). `publish` resolves once the broker confirms.
///
/// - [`PublishError::Refused`]: the broker nacked the message, or returned
///   it because no queue is bound for its routing key (`mandatory`), or the
///   topic, a header name or the exchange name is longer than AMQP's 255
///   bytes.
/// - [`PublishError::Unavailable`]: the connection or channel failed or is
///   closed. Note that RabbitMQ closes the channel when the exchange does
///   not exist: that reads as an outage until the exchange is declared and
///   a new publisher made on a new channel.
///
/// Concurrent `publish` calls on one channel pipeline: each waits for its
/// own confirm. Unlike NATS, RabbitMQ does not drop a duplicate: a message
/// the relay publishes again (after a crash between the confirm and its
/// commit) arrives twice, and consumers dedupe by `message_id` (see the
/// [`inbox`](crate::inbox)).
#[derive(Debug, Clone)]
pub struct AmqpPublisher {
    channel: Channel,
    exchange: ShortString,
}

impl AmqpPublisher {
    /// Puts `channel` in confirm mode and returns a publisher to
    /// `exchange` (`""` is the default exchange, which routes by queue
    /// name). Fails when the exchange name is over 255 bytes or the
    /// channel refuses confirm mode (closed, or in transaction mode).
    pub async fn new(channel: Channel, exchange: &str) -> Result<Self, PublishError> {
        let exchange = short(exchange, "exchange name")?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(PublishError::unavailable)?;
        Ok(Self { channel, exchange })
    }

    /// The channel it publishes on.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }
}

impl Publisher for AmqpPublisher {
    async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        let routing_key = short(&envelope.topic, "topic (routing key)")?;
        let id = envelope.id.to_string();
        let mut headers = FieldTable::default();
        for (name, value) in &envelope.headers {
            headers.insert(short(name, "header name")?, string(value.clone()));
        }
        headers.insert(short(header::ID, "")?, string(id.clone()));
        headers.insert(short(header::KEY, "")?, string(envelope.key.clone()));
        headers.insert(short(header::SEQ, "")?, string(envelope.seq.to_string()));
        let properties = BasicProperties::default()
            .with_message_id(short(&id, "")?)
            .with_delivery_mode(PERSISTENT)
            .with_headers(headers);
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirm = self
            .channel
            .basic_publish(
                self.exchange.clone(),
                routing_key,
                options,
                &envelope.payload,
                properties,
            )
            .await
            .map_err(PublishError::unavailable)?
            .await
            .map_err(PublishError::unavailable)?;
        match confirm {
            // An unroutable mandatory message is returned, then acked.
            Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
                Err(PublishError::refused(format!(
                    "returned by the broker: {} {}",
                    returned.reply_code, returned.reply_text
                )))
            }
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Nack(None) => Err(PublishError::refused("nacked by the broker")),
            Confirmation::NotRequested => Err(PublishError::unavailable(
                "the channel is not in confirm mode (recovered without confirm_select?)",
            )),
        }
    }
}

fn short(s: &str, what: &str) -> Result<ShortString, PublishError> {
    ShortString::try_new(s).map_err(|_| {
        PublishError::refused(format!("{what} of {} bytes is over AMQP's 255", s.len()))
    })
}

fn string(s: String) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

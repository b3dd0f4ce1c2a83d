//! The publishers the crate ships: the in-process channel (no service),
//! NATS JetStream (`BALLAST_NATS_URL`) and RabbitMQ (`BALLAST_AMQP_URL`).

mod common;

use ballast_outbox::publish::Fail;
use ballast_outbox::{ChannelPublisher, Envelope, PublishError, Publisher};
use std::time::Duration;

fn envelope(topic: &str) -> Envelope {
    Envelope {
        id: uuid::Uuid::now_v7(),
        topic: topic.into(),
        key: "order-42".into(),
        seq: 3,
        partition: 7,
        headers: vec![("tenant".into(), "acme".into())],
        payload: "payload".into(),
        attempts: 0,
    }
}

// ---- channel ----

#[tokio::test]
async fn channel_publisher_delivers_envelopes_in_publish_order() {
    let (publisher, mut rx) = ChannelPublisher::new(8);
    let (a, b) = (envelope("t"), envelope("t"));
    publisher.publish(&a).await.unwrap();
    publisher.clone().publish(&b).await.unwrap(); // a clone shares the channel
    assert_eq!(rx.recv().await.unwrap(), a);
    assert_eq!(rx.recv().await.unwrap(), b);
}

#[tokio::test]
async fn channel_publisher_fail_switch_refuses_or_is_unavailable_then_recovers() {
    let (publisher, mut rx) = ChannelPublisher::new(8);
    let clone = publisher.clone();
    publisher.set_fail(Some(Fail::Refuse));
    assert!(matches!(
        clone.publish(&envelope("t")).await,
        Err(PublishError::Refused(_))
    ));
    publisher.set_fail(Some(Fail::Unavailable));
    assert!(matches!(
        clone.publish(&envelope("t")).await,
        Err(PublishError::Unavailable(_))
    ));
    assert!(rx.try_recv().is_err(), "a failed publish must not deliver");
    publisher.set_fail(None);
    let e = envelope("t");
    clone.publish(&e).await.unwrap();
    assert_eq!(rx.recv().await.unwrap(), e);
}

#[tokio::test]
async fn channel_publisher_with_dropped_receiver_is_unavailable() {
    let (publisher, rx) = ChannelPublisher::new(1);
    drop(rx);
    assert!(matches!(
        publisher.publish(&envelope("t")).await,
        Err(PublishError::Unavailable(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn channel_publisher_waits_for_space_when_full() {
    let (publisher, mut rx) = ChannelPublisher::new(1);
    publisher.publish(&envelope("t")).await.unwrap();
    let second = envelope("t");
    let mut pending = Box::pin(publisher.publish(&second));
    // Paused clock: the timeout fires at once if the publish cannot go on.
    assert!(
        tokio::time::timeout(Duration::from_secs(1), &mut pending)
            .await
            .is_err()
    );
    rx.recv().await.unwrap();
    pending.await.unwrap();
    assert_eq!(rx.recv().await.unwrap(), second);
}

// ---- NATS JetStream ----

#[cfg(feature = "nats")]
mod jetstream {
    use super::*;
    use async_nats::jetstream::{self, stream};
    use ballast_outbox::publish::JetStreamPublisher;

    async fn context(test: &str) -> Option<jetstream::Context> {
        let url = common::service("BALLAST_NATS_URL", test)?;
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(3))
            .connect(url)
            .await
            .unwrap();
        Some(jetstream::new(client))
    }

    /// A stream named `name` taking the subjects `name.>`.
    async fn stream(js: &jetstream::Context, name: &str) -> stream::Stream {
        js.create_stream(stream::Config {
            name: name.into(),
            subjects: vec![format!("{name}.>")],
            duplicate_window: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn jetstream_drops_a_second_publish_of_the_same_message_id() {
        let Some(js) = context("jetstream_drops_a_second_publish").await else {
            return;
        };
        let name = common::unique("dedupe");
        let mut s = stream(&js, &name).await;
        let publisher = JetStreamPublisher::new(js.clone());
        let e = envelope(&format!("{name}.orders"));
        publisher.publish(&e).await.unwrap();
        publisher.publish(&e).await.unwrap(); // a duplicate ack is a success
        publisher
            .publish(&envelope(&format!("{name}.orders")))
            .await
            .unwrap();
        assert_eq!(s.info().await.unwrap().state.messages, 2);
        js.delete_stream(&name).await.unwrap();
    }

    #[tokio::test]
    async fn jetstream_message_carries_msg_id_and_ballast_headers_on_the_prefixed_subject() {
        let Some(js) = context("jetstream_message_carries_headers").await else {
            return;
        };
        let name = common::unique("headers");
        let s = stream(&js, &name).await;
        let publisher = JetStreamPublisher::new(js.clone()).with_subject_prefix(format!("{name}."));
        let e = envelope("orders.placed");
        publisher.publish(&e).await.unwrap();
        let m = s.get_raw_message(1).await.unwrap();
        assert_eq!(m.subject.as_str(), format!("{name}.orders.placed"));
        let h = |n: &str| m.headers.get(n).map(|v| v.as_str().to_owned());
        let id = e.id.to_string();
        assert_eq!(h("Nats-Msg-Id").as_deref(), Some(id.as_str()));
        assert_eq!(h("Ballast-Id").as_deref(), Some(id.as_str()));
        assert_eq!(h("Ballast-Key").as_deref(), Some("order-42"));
        assert_eq!(h("Ballast-Seq").as_deref(), Some("3"));
        assert_eq!(h("tenant").as_deref(), Some("acme"));
        assert_eq!(&m.payload[..], b"payload");
        js.delete_stream(&name).await.unwrap();
    }

    #[tokio::test]
    async fn jetstream_subject_without_a_stream_is_refused() {
        let Some(js) = context("jetstream_subject_without_a_stream").await else {
            return;
        };
        let publisher = JetStreamPublisher::new(js);
        let topic = format!("{}.nothing", common::unique("nostream"));
        let out = publisher.publish(&envelope(&topic)).await;
        assert!(matches!(out, Err(PublishError::Refused(_))), "{out:?}");
    }

    #[tokio::test]
    async fn jetstream_message_over_the_streams_size_limit_is_refused() {
        let Some(js) = context("jetstream_message_over_the_limit").await else {
            return;
        };
        let name = common::unique("small");
        js.create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{name}.>")],
            max_message_size: 64,
            ..Default::default()
        })
        .await
        .unwrap();
        let mut e = envelope(&format!("{name}.big"));
        e.payload = vec![b'x'; 1024].into();
        let out = JetStreamPublisher::new(js.clone()).publish(&e).await;
        assert!(matches!(out, Err(PublishError::Refused(_))), "{out:?}");
        js.delete_stream(&name).await.unwrap();
    }

    /// A context whose server is gone: a loopback port nobody listens on.
    async fn dead_context() -> jetstream::Context {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_millis(200))
            .connect(format!("nats://127.0.0.1:{port}"))
            .await
            .unwrap();
        jetstream::ContextBuilder::new()
            .timeout(Duration::from_millis(500))
            .build(client)
    }

    #[tokio::test]
    async fn jetstream_dead_server_is_unavailable_within_the_ack_timeout() {
        let publisher = JetStreamPublisher::new(dead_context().await);
        let started = std::time::Instant::now();
        let out = tokio::time::timeout(Duration::from_secs(5), publisher.publish(&envelope("x.y")))
            .await
            .expect("publish to a dead server did not return");
        assert!(matches!(out, Err(PublishError::Unavailable(_))), "{out:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn jetstream_header_nats_cannot_carry_is_refused_without_panicking() {
        let publisher = JetStreamPublisher::new(dead_context().await);
        let mut bad_name = envelope("x.y");
        bad_name.headers.push(("a:b".into(), "v".into()));
        let mut bad_value = envelope("x.y");
        bad_value.headers.push(("a".into(), "line\r\nbreak".into()));
        for e in [bad_name, bad_value] {
            let out = publisher.publish(&e).await;
            assert!(matches!(out, Err(PublishError::Refused(_))), "{out:?}");
        }
    }
}

// ---- RabbitMQ ----

#[cfg(feature = "amqp")]
mod amqp {
    use super::*;
    use ballast_outbox::publish::AmqpPublisher;
    use lapin::options::{
        BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
        QueueDeclareOptions, QueueDeleteOptions,
    };
    use lapin::types::{AMQPValue, FieldTable};
    use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

    async fn connect(test: &str) -> Option<Connection> {
        let url = common::service("BALLAST_AMQP_URL", test)?;
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            Connection::connect(&url, ConnectionProperties::default()),
        )
        .await
        .expect("connecting to RabbitMQ timed out")
        .unwrap();
        Some(conn)
    }

    async fn exchange(channel: &Channel, name: &str) {
        channel
            .exchange_declare(
                name.into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }

    fn header(table: &FieldTable, name: &str) -> Option<String> {
        match table.inner().get(name)? {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn amqp_confirmed_publish_arrives_with_message_id_headers_and_persistence() {
        let Some(conn) = connect("amqp_confirmed_publish_arrives").await else {
            return;
        };
        let admin = conn.create_channel().await.unwrap();
        let (ex, queue) = (common::unique("ex"), common::unique("q"));
        exchange(&admin, &ex).await;
        admin
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        admin
            .queue_bind(
                queue.as_str().into(),
                ex.as_str().into(),
                "orders.placed".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();

        let publisher = AmqpPublisher::new(conn.create_channel().await.unwrap(), &ex)
            .await
            .unwrap();
        let e = envelope("orders.placed");
        publisher.publish(&e).await.unwrap();

        let got = admin
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .expect("the confirmed message is not in the bound queue");
        let props = &got.delivery.properties;
        let id = e.id.to_string();
        assert_eq!(
            props.message_id().as_ref().map(|s| s.as_str()),
            Some(id.as_str())
        );
        assert_eq!(*props.delivery_mode(), Some(2));
        let headers = props.headers().as_ref().expect("no headers");
        assert_eq!(header(headers, "Ballast-Id").as_deref(), Some(id.as_str()));
        assert_eq!(header(headers, "Ballast-Key").as_deref(), Some("order-42"));
        assert_eq!(header(headers, "Ballast-Seq").as_deref(), Some("3"));
        assert_eq!(header(headers, "tenant").as_deref(), Some("acme"));
        assert_eq!(got.delivery.data, b"payload");

        admin
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .unwrap();
        admin
            .exchange_delete(ex.as_str().into(), ExchangeDeleteOptions::default())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn amqp_unroutable_mandatory_message_is_refused() {
        let Some(conn) = connect("amqp_unroutable_message_is_refused").await else {
            return;
        };
        let admin = conn.create_channel().await.unwrap();
        let ex = common::unique("ex");
        exchange(&admin, &ex).await; // no queue bound
        let publisher = AmqpPublisher::new(conn.create_channel().await.unwrap(), &ex)
            .await
            .unwrap();
        let out = publisher.publish(&envelope("nowhere")).await;
        assert!(matches!(out, Err(PublishError::Refused(_))), "{out:?}");
        admin
            .exchange_delete(ex.as_str().into(), ExchangeDeleteOptions::default())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn amqp_closed_channel_is_unavailable_and_overlong_topic_is_refused() {
        let Some(conn) = connect("amqp_closed_channel_is_unavailable").await else {
            return;
        };
        let channel = conn.create_channel().await.unwrap();
        let publisher = AmqpPublisher::new(channel.clone(), "amq.direct")
            .await
            .unwrap();
        let out = publisher.publish(&envelope(&"t".repeat(256))).await;
        assert!(matches!(out, Err(PublishError::Refused(_))), "{out:?}");
        channel.close(200, "test".into()).await.unwrap();
        let out = publisher.publish(&envelope("t")).await;
        assert!(matches!(out, Err(PublishError::Unavailable(_))), "{out:?}");
    }
}

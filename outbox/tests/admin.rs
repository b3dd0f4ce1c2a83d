//! The operators' dead-letter API (feature `axum`) over SQLite.
#![cfg(feature = "axum")]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ballast_outbox::{Config, Message, Outbox, Relay, RelayConfig};
use std::time::Duration;
use support::Recorder;
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_list_retry_and_purge_dead_letters_and_every_decision_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::new(support::sqlite(&dir).await, Config::default())
        .await
        .unwrap();
    let mut tx = outbox.pool().begin().await.unwrap();
    let first = outbox
        .enqueue(&mut tx, &Message::new("t", "bad", "1"))
        .await
        .unwrap();
    let second = outbox
        .enqueue(&mut tx, &Message::new("t", "worse", "1"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let recorder = Recorder::default();
    *recorder.refuse_key.lock() = Some("bad".into());
    let relay = Relay::start(
        &outbox,
        recorder.clone(),
        RelayConfig::builder()
            .max_attempts(1)
            .on_dead_letter(ballast_outbox::OnDeadLetter::SkipMessage)
            .poll_interval(Duration::from_millis(20))
            .build()
            .unwrap(),
    );
    recorder.wait_for(1, Duration::from_secs(10)).await;
    let start = std::time::Instant::now();
    while outbox.dead_letters(None, 10).await.unwrap().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.shutdown().await;
    let app = ballast_outbox::admin::router(outbox.clone());

    let (status, list) = call(&app, "GET", "/dead-letters?key=bad", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["id"], first.to_string());
    assert_eq!(list[0]["attempts"], 1);
    assert_eq!(
        call(&app, "GET", "/dead-letters?key=nobody", "").await.1,
        serde_json::json!([])
    );

    let (status, _) = call(
        &app,
        "POST",
        &format!("/dead-letters/{first}/retry"),
        r#"{"operator":" "}"#,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an operator must say who they are"
    );
    let (status, _) = call(
        &app,
        "POST",
        &format!("/dead-letters/{first}/retry"),
        r#"{"operator":"alice"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(
        &app,
        "POST",
        &format!("/dead-letters/{second}/purge"),
        r#"{"operator":"bob"}"#,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{body}: 'worse' was published, not dead"
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&second.to_string())
    );

    let (_, decisions) = call(&app, "GET", "/decisions?limit=5", "").await;
    assert_eq!(decisions[0]["action"], "retry");
    assert_eq!(decisions[0]["by"], "alice");
    assert_eq!(decisions[1]["action"], "dead-lettered");
    let (_, backlog) = call(&app, "GET", "/backlog", "").await;
    assert_eq!(
        backlog["messages"], 1,
        "the retried message waits for a relay: {backlog}"
    );
    assert_eq!(backlog["dead_letters"], 0);
}

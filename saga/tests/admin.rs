//! The operators' API as an axum Router (feature `axum`) over SQLite:
//! list, show, and decide, with the refusals as HTTP statuses.
#![cfg(feature = "axum")]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ballast_saga::{Executor, Status};
use serde_json::{Value, json};
use std::time::Duration;
use support::*;
use tower::ServiceExt;

const LIMIT: Duration = Duration::from_secs(10);

async fn call(app: &axum::Router, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
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
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn operators_list_show_and_retry_a_stuck_saga_over_http_and_wrong_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::default();
    let h = Executor::builder(sqlite(&dir).await)
        .config(config("ballast_saga"))
        .register(trip(&svc, 1))
        .start()
        .await
        .unwrap();
    let done = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    assert_eq!(ended(&h, done, LIMIT).await.status, Status::Completed);
    svc.on("hotel", [Answer::Refuse]);
    svc.always("flight/compensate", Answer::Transient);
    let stuck = h.start_saga("trip", 1, &Trip::default()).await.unwrap();
    assert_eq!(ended(&h, stuck, LIMIT).await.status, Status::Stuck);
    let app = ballast_saga::admin::router(h.operator());

    let (status, list) = call(&app, "GET", "/sagas?status=stuck&limit=5", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], stuck.to_string());
    assert_eq!(list[0]["status"], "stuck");
    assert!(list[0]["reason"].as_str().unwrap().contains("flight"));
    assert_eq!(
        call(&app, "GET", "/sagas?status=bogus", "").await.0,
        StatusCode::BAD_REQUEST
    );

    let (status, shown) = call(&app, "GET", &format!("/sagas/{stuck}"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["history"][0]["kind"], "started");
    assert_eq!(
        shown["history"].as_array().unwrap().last().unwrap()["kind"],
        "stuck"
    );
    let nobody = uuid::Uuid::now_v7();
    assert_eq!(
        call(&app, "GET", &format!("/sagas/{nobody}"), "").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, "GET", "/sagas/not-an-id", "").await.0,
        StatusCode::BAD_REQUEST
    );

    let who = |name: &str| json!({ "operator": name }).to_string();
    let retry = format!("/sagas/{stuck}/retry_compensation");
    assert_eq!(
        call(&app, "POST", &retry, &who(" ")).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, body) = call(
        &app,
        "POST",
        &format!("/sagas/{done}/mark_compensated"),
        &who("bob"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"].as_str().unwrap().contains("completed"));
    assert_eq!(
        call(&app, "POST", &format!("/sagas/{nobody}/abort"), &who("bob"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &app,
            "POST",
            &format!("/sagas/{stuck}/nonsense"),
            &who("bob")
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.history(stuck).await.unwrap().len(),
        shown["history"].as_array().unwrap().len(),
        "refusals write nothing"
    );

    svc.always.lock().remove("flight/compensate");
    assert_eq!(
        call(&app, "POST", &retry, &who("alice")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(ended(&h, stuck, LIMIT).await.status, Status::Compensated);
    let (_, shown) = call(&app, "GET", &format!("/sagas/{stuck}"), "").await;
    assert_eq!(shown["status"], "compensated");
    let decisions: Vec<&Value> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "operator_decision")
        .collect();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["error"], "retry_compensation by alice");
    h.shutdown().await.unwrap();
}

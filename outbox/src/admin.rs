//! The operators' dead-letter API as an axum [`Router`] a service mounts
//! (JSON). Every decision is logged with the operator's name.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /dead-letters?key=K&limit=N` | dead letters, of one key or all, in key and commit order |
//! | `POST /dead-letters/{id}/retry` | put one back ahead of its key's later messages |
//! | `POST /dead-letters/{id}/purge` | delete one for good |
//! | `GET /decisions?limit=N` | the latest decisions, newest first |
//! | `GET /backlog` | messages waiting, the relay's lag, dead letters, held keys |
//!
//! `retry` and `purge` take `{"operator": "name"}` as their body; a
//! missing name is refused with 400. Put the router behind your own
//! authentication layer: it can release held keys.
//!
//! ```no_run
//! # async fn demo(outbox: ballast_outbox::Outbox<sqlx::Postgres>) {
//! let app = axum::Router::new().nest("/outbox", ballast_outbox::admin::router(outbox));
//! # let _: axum::Router = app;
//! # }
//! ```

use crate::store::Backend;
use crate::{Error, Outbox};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The dead-letter API over `outbox` (see the module docs for the routes).
pub fn router<DB: Backend>(outbox: Outbox<DB>) -> Router {
    Router::new()
        .route("/dead-letters", get(list::<DB>))
        .route("/dead-letters/{id}/{action}", post(decide::<DB>))
        .route("/decisions", get(decisions::<DB>))
        .route("/backlog", get(backlog::<DB>))
        .with_state(outbox)
}

#[derive(Deserialize)]
struct ListQuery {
    key: Option<String>,
    limit: Option<u32>,
}

#[derive(Deserialize)]
struct Operator {
    operator: String,
}

#[derive(Serialize)]
struct BacklogView {
    messages: u64,
    oldest_age_ms: Option<u128>,
    dead_letters: u64,
    held_keys: u64,
    partitions: Vec<PartitionView>,
}

#[derive(Serialize)]
struct PartitionView {
    partition: u32,
    messages: u64,
    oldest_age_ms: u128,
}

struct ApiError(Error);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.0.to_string() })),
        )
            .into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

async fn list<DB: Backend>(
    State(outbox): State<Outbox<DB>>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let letters = outbox
        .dead_letters(q.key.as_deref(), q.limit.unwrap_or(100).min(10_000))
        .await?;
    Ok(Json(letters).into_response())
}

/// `retry` or `purge`, by a named operator.
async fn decide<DB: Backend>(
    State(outbox): State<Outbox<DB>>,
    Path((id, action)): Path<(Uuid, String)>,
    Json(who): Json<Operator>,
) -> Result<Response, ApiError> {
    if who.operator.trim().is_empty() {
        return Ok((StatusCode::BAD_REQUEST, "operator is required").into_response());
    }
    match action.as_str() {
        "retry" => outbox.retry_dead_letter(id, &who.operator).await?,
        "purge" => outbox.purge_dead_letter(id, &who.operator).await?,
        _ => return Ok(StatusCode::NOT_FOUND.into_response()),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn decisions<DB: Backend>(
    State(outbox): State<Outbox<DB>>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(outbox.decisions(q.limit.unwrap_or(100).min(10_000)).await?).into_response())
}

async fn backlog<DB: Backend>(State(outbox): State<Outbox<DB>>) -> Result<Response, ApiError> {
    let b = outbox.backlog().await?;
    Ok(Json(BacklogView {
        messages: b.messages,
        oldest_age_ms: b.oldest_age.map(|d| d.as_millis()),
        dead_letters: b.dead_letters,
        held_keys: b.held_keys,
        partitions: b
            .partitions
            .iter()
            .map(|p| PartitionView {
                partition: p.partition,
                messages: p.messages,
                oldest_age_ms: p.oldest_age.as_millis(),
            })
            .collect(),
    })
    .into_response())
}

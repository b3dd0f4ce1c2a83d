//! The operators' API as an axum [`Router`] a service mounts (JSON), over
//! an [`Operator`]. Every decision is written to the saga's log with the
//! operator's name.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /sagas?status=S&limit=N` | sagas in status `S` (`stuck`, `paused`, ...), oldest first, at most `N` (100 by default) |
//! | `GET /sagas/{id}` | the saga and its history (its whole log) |
//! | `POST /sagas/{id}/retry_compensation` | a stuck saga compensates again |
//! | `POST /sagas/{id}/mark_compensated` | a stuck saga ends compensated (undone by hand) |
//! | `POST /sagas/{id}/abort` | a stuck or paused saga ends aborted |
//! | `POST /sagas/{id}/resume` | a paused saga goes on |
//!
//! Decisions take `{"operator": "name"}` as their body and answer 204; a
//! blank or missing name is refused with 400, an unknown saga with 404, a saga in a
//! status the decision does not apply to with 409. Put the router behind
//! your own authentication layer: it changes what sagas do.
//!
//! ```no_run
//! # async fn demo(executor: ballast_saga::ExecutorHandle) {
//! let app = axum::Router::new().nest("/sagas-admin", ballast_saga::admin::router(executor.operator()));
//! # let _: axum::Router = app;
//! # }
//! ```

use crate::{Decision, DecisionError, Error, LogEntry, Operator, SagaId, SagaInfo, Status};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The operators' API over `operator` (see the module docs for the routes).
pub fn router(operator: Operator) -> Router {
    Router::new()
        .route("/sagas", get(list))
        .route("/sagas/{id}", get(show))
        .route("/sagas/{id}/{decision}", post(decide))
        .with_state(operator)
}

#[derive(Deserialize)]
struct ListQuery {
    status: String,
    limit: Option<u32>,
}

#[derive(Deserialize)]
struct Who {
    /// Missing counts as blank: refused with 400.
    #[serde(default)]
    operator: String,
}

#[derive(Serialize)]
struct SagaView {
    id: String,
    name: String,
    version: u32,
    status: &'static str,
    state: serde_json::Value,
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<EntryView>>,
}

impl SagaView {
    fn of(s: SagaInfo) -> SagaView {
        SagaView {
            id: s.id.to_string(),
            name: s.name,
            version: s.version,
            status: s.status.as_str(),
            state: s.state,
            reason: s.reason,
            history: None,
        }
    }
}

#[derive(Serialize)]
struct EntryView {
    n: i64,
    kind: &'static str,
    step: Option<String>,
    state: Option<serde_json::Value>,
    error: Option<String>,
    epoch: i64,
    at_ms: i64,
}

impl EntryView {
    fn of(e: LogEntry) -> EntryView {
        EntryView {
            n: e.n,
            kind: e.kind.as_str(),
            step: e.step,
            state: e.state,
            error: e.error,
            epoch: e.epoch,
            at_ms: e.at_ms,
        }
    }
}

/// An answer with a status and `{"error": ...}`.
fn refuse(status: StatusCode, why: impl std::fmt::Display) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": why.to_string() })),
    )
        .into_response()
}

fn store_error(e: Error) -> Response {
    match e {
        Error::NotFound(_) => refuse(StatusCode::NOT_FOUND, e),
        e => refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

fn saga_id(id: &str) -> Option<SagaId> {
    Uuid::parse_str(id).ok().map(SagaId)
}

fn bad_id(id: &str) -> Response {
    refuse(StatusCode::BAD_REQUEST, format!("not a saga id: {id:?}"))
}

async fn list(State(op): State<Operator>, Query(q): Query<ListQuery>) -> Response {
    let Some(status) = Status::parse(&q.status) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("unknown status {:?}", q.status),
        );
    };
    match op.list(status, q.limit.unwrap_or(100).min(10_000)).await {
        Ok(sagas) => Json(sagas.into_iter().map(SagaView::of).collect::<Vec<_>>()).into_response(),
        Err(e) => store_error(e),
    }
}

async fn show(State(op): State<Operator>, Path(id): Path<String>) -> Response {
    let Some(id) = saga_id(&id) else {
        return bad_id(&id);
    };
    let (info, log) = match (op.saga(id).await, op.history(id).await) {
        (Ok(info), Ok(log)) => (info, log),
        (Err(e), _) | (_, Err(e)) => return store_error(e),
    };
    let mut view = SagaView::of(info);
    view.history = Some(log.into_iter().map(EntryView::of).collect());
    Json(view).into_response()
}

async fn decide(
    State(op): State<Operator>,
    Path((id, decision)): Path<(String, String)>,
    Json(who): Json<Who>,
) -> Response {
    let Some(decision) = Decision::parse(&decision) else {
        return refuse(StatusCode::NOT_FOUND, format!("no decision {decision:?}"));
    };
    let Some(id) = saga_id(&id) else {
        return bad_id(&id);
    };
    match op.decide(id, decision, &who.operator).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e @ DecisionError::BlankOperator) => refuse(StatusCode::BAD_REQUEST, e),
        Err(e @ DecisionError::NotFound(_)) => refuse(StatusCode::NOT_FOUND, e),
        Err(e @ DecisionError::WrongStatus { .. }) => refuse(StatusCode::CONFLICT, e),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

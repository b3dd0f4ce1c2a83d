//! Ready-made error handlers for axum's `HandleErrorLayer` (feature
//! `axum`): a ballast refusal becomes the response the
//! [table](crate::answer#the-table) gives, anything else a 500.
//!
//! ```
//! use axum::{Router, error_handling::HandleErrorLayer, routing::get};
//! use ballast::prelude::*;
//! use ballast::{axum::handle_error, bulkhead};
//! use tower::ServiceBuilder;
//!
//! # fn main() -> Result<(), BoxError> {
//! let permits = Bulkhead::new(bulkhead::Config::builder().max_concurrent_calls(64).build()?);
//! let app: Router = Router::new().route("/", get(|| async { "hello" })).layer(
//!     ServiceBuilder::new()
//!         // a full bulkhead answers 503, not 500
//!         .layer(HandleErrorLayer::new(handle_error))
//!         .with_bulkhead(&permits),
//! );
//! # let _ = app; Ok(()) }
//! ```

use ::axum::body::Body;
use ::axum::http::{Response, StatusCode};
use ballast_core::http::rejection_response;
use ballast_core::{BoxError, Side};

/// For `HandleErrorLayer` in front of a server's own layers: a refusal is
/// answered as refused on [`Side::Server`] (a rate limit per client is a
/// 429 that tells the caller to slow down), anything else as 500.
pub async fn handle_error(err: BoxError) -> Response<Body> {
    error_response(&err, Side::Server)
}

/// For `HandleErrorLayer` in front of a route whose service is a client
/// stack toward a dependency (a proxy): a refusal is answered as refused
/// on [`Side::Client`] (never a 429 blaming the caller), anything else as
/// 500.
pub async fn handle_dependency_error(err: BoxError) -> Response<Body> {
    error_response(&err, Side::Client)
}

/// The response for `err` refused on `side`, or a plain 500 when it holds
/// no ballast refusal; for handlers that answer a failed dependency call
/// themselves (`Side::Client`).
pub fn error_response(err: &BoxError, side: Side) -> Response<Body> {
    rejection_response(err, side).unwrap_or_else(|| {
        let mut res = Response::new(Body::from("internal server error\n"));
        *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        res
    })
}

//! A real axum server on loopback for the HTTP classifier's tests:
//! `GET /status/{code}` answers with that status (a 503 carries
//! `Retry-After: 7`), and the server counts the requests that reached it.
#![allow(dead_code)]

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header::RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The running server: its address and how many requests reached it.
pub struct Server {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    /// Requests that reached a handler so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// `http://127.0.0.1:port/status/{code}`.
    pub fn url(&self, code: u16) -> String {
        format!("http://{}/status/{code}", self.addr)
    }
}

async fn status(State(hits): State<Arc<AtomicUsize>>, Path(code): Path<u16>) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(code).expect("a valid status in the path");
    let mut response = (status, format!("status {code}")).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("7"));
    }
    response
}

/// Starts the server on an ephemeral loopback port.
pub async fn start() -> Server {
    let hits = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route("/status/{code}", get(status))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    Server { addr, hits }
}

/// A loopback address where nothing listens: a port bound and released.
pub async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    drop(listener);
    addr
}

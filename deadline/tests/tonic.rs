//! The propagation layers in a real tonic client and server over HTTP/2
//! on loopback, without protoc: the messages are written by hand with
//! prost's derive and the service the way tonic's generated code does it
//! (`tonic::server::Grpc` + `tonic_prost::ProstCodec` on the server,
//! `tonic::client::Grpc` on the client). The server runs
//! `Server::builder().layer(ReceiveDeadlineLayer)`, the client a
//! `SendDeadlineLayer` around its `Channel`.
//!
//! tonic has timers of its own for `grpc-timeout`, outside every layer
//! given to it: in the server (around `Server::builder().layer`'s stack)
//! and in the client's channel (under the `SendDeadlineLayer`, so it reads
//! the header that layer wrote). Both drop the call at the same budget and
//! answer `CANCELLED` ("Timeout expired"); the client's usually fires
//! before the server layer's `DEADLINE_EXCEEDED` arrives. So the test that
//! wants `DEADLINE_EXCEEDED` gives the server a `max_budget` below the
//! client's budget: only this crate's layer can answer then. Another test
//! shows what happens without it.
//!
//! Real time (it is network I/O), so every test is bounded: budgets of a
//! few hundred ms and an outer 5 s guard.
#![cfg(feature = "http")]

use ballast_deadline::propagate::{
    ReceiveConfig, ReceiveDeadlineLayer, SendConfig, SendDeadline, SendDeadlineLayer,
};
use ballast_deadline::{Deadline, Reason, Rejected};
use http::uri::PathAndQuery;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tonic::body::Body;
use tonic::metadata::MetadataValue;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, GrpcMethod, Request, Response, Status};
use tonic_prost::ProstCodec;
use tower::{Service, ServiceBuilder};

const SERVICE: &str = "ballast.test.Work";
const METHOD: &str = "Do";
const PATH: &str = "/ballast.test.Work/Do";

/// What the client asks for: how long the handler should work.
#[derive(Clone, PartialEq, prost::Message)]
struct WorkRequest {
    #[prost(uint64, tag = "1")]
    work_ms: u64,
}

/// What the handler saw.
#[derive(Clone, PartialEq, prost::Message)]
struct WorkReply {
    /// Milliseconds left of the handler's `Deadline::current()`, if any.
    #[prost(uint64, optional, tag = "1")]
    current_ms: Option<u64>,
    /// Milliseconds left of the deadline in the request's extensions.
    #[prost(uint64, optional, tag = "2")]
    carried_ms: Option<u64>,
    /// The `grpc-timeout` metadata the handler received, if any.
    #[prost(string, optional, tag = "3")]
    grpc_timeout: Option<String>,
}

/// What the server saw, for the test to check.
#[derive(Default)]
struct Seen {
    calls: AtomicUsize,
    /// Set by a guard in the handler that is dropped before its work ends.
    cancelled: AtomicBool,
}

struct CancelFlag(Arc<Seen>);

impl Drop for CancelFlag {
    fn drop(&mut self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The handler: reports the budget it sees, then works `work_ms`.
async fn work(seen: Arc<Seen>, req: Request<WorkRequest>) -> Result<Response<WorkReply>, Status> {
    seen.calls.fetch_add(1, Ordering::SeqCst);
    let reply = WorkReply {
        current_ms: Deadline::current().map(|d| millis(d.remaining())),
        carried_ms: req
            .extensions()
            .get::<Deadline>()
            .map(|d| millis(d.remaining())),
        grpc_timeout: req
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let work = Duration::from_millis(req.get_ref().work_ms);
    if !work.is_zero() {
        let guard = CancelFlag(seen.clone());
        tokio::time::sleep(work).await;
        std::mem::forget(guard);
    }
    Ok(Response::new(reply))
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

/// The one unary method, as tonic's generated `…Svc` structs are.
struct DoSvc(Arc<Seen>);

impl tonic::server::UnaryService<WorkRequest> for DoSvc {
    type Response = WorkReply;
    type Future = BoxFuture<Response<WorkReply>, Status>;

    fn call(&mut self, req: Request<WorkRequest>) -> Self::Future {
        Box::pin(work(self.0.clone(), req))
    }
}

/// The service, as tonic's generated `…Server` structs are: routes by
/// path, decodes and encodes with prost.
#[derive(Clone)]
struct WorkServer(Arc<Seen>);

impl NamedService for WorkServer {
    const NAME: &'static str = SERVICE;
}

impl Service<http::Request<Body>> for WorkServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<http::Response<Body>, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if req.uri().path() != PATH {
            return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
        }
        let method = DoSvc(self.0.clone());
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
            Ok(grpc.unary(method, req).await)
        })
    }
}

/// Starts a tonic server with `ReceiveDeadlineLayer::new(config)`.
async fn serve(config: ReceiveConfig) -> (SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Server::builder()
        .layer(ReceiveDeadlineLayer::new(config))
        .add_service(WorkServer(seen.clone()));
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    (addr, seen)
}

type Client = tonic::client::Grpc<SendDeadline<Channel>>;

/// A tonic client whose channel sends its deadline.
async fn client(addr: SocketAddr, config: SendConfig) -> Client {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let channel = ServiceBuilder::new()
        .layer(SendDeadlineLayer::new(config))
        .service(channel);
    tonic::client::Grpc::new(channel)
}

/// One call of `Do`, as tonic's generated client methods make it.
async fn call(client: &mut Client, mut req: Request<WorkRequest>) -> Result<WorkReply, Status> {
    client
        .ready()
        .await
        .map_err(|e| Status::unknown(format!("not ready: {e}")))?;
    req.extensions_mut()
        .insert(GrpcMethod::new(SERVICE, METHOD));
    let path = PathAndQuery::from_static(PATH);
    let res = client.unary(req, path, ProstCodec::default()).await?;
    Ok(res.into_inner())
}

fn work_for(ms: u64) -> Request<WorkRequest> {
    Request::new(WorkRequest { work_ms: ms })
}

/// Runs a test body, failing it if it is not done in 5 s.
async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(5), body)
        .await
        .expect("the test finished within 5 s");
}

#[tokio::test]
async fn a_client_deadline_reaches_the_tonic_handler_with_less_time_left() {
    bounded(async {
        let (addr, seen) = serve(ReceiveConfig::default()).await;
        let mut client = client(addr, SendConfig::default()).await;

        // No deadline: nothing is sent and the handler has none.
        let reply = call(&mut client, work_for(0)).await.unwrap();
        assert_eq!(reply.current_ms, None);
        assert_eq!(reply.carried_ms, None);
        assert_eq!(reply.grpc_timeout, None);

        // The task's deadline, set with `Deadline::scope`.
        let reply = Deadline::after(Duration::from_millis(300))
            .scope(call(&mut client, work_for(0)))
            .await
            .unwrap();
        let left = reply.current_ms.expect("the handler's Deadline::current()");
        // 5 ms of default margin and the trip are gone; never more than sent.
        assert!(left < 296 && left > 200, "the handler had {left} ms");
        assert!(
            reply
                .carried_ms
                .is_some_and(|c| c <= left + 1 && c + 1 >= left),
            "the request's extensions carried {:?} ms, the task {left} ms",
            reply.carried_ms
        );
        let sent = reply.grpc_timeout.expect("grpc-timeout on the wire");
        assert!(sent.ends_with(['m', 'u', 'n']), "grpc-timeout: {sent}");

        // The request's own deadline, in its extensions.
        let mut req = work_for(0);
        req.extensions_mut()
            .insert(Deadline::after(Duration::from_millis(400)));
        let reply = call(&mut client, req).await.unwrap();
        let left = reply.current_ms.expect("the handler's Deadline::current()");
        assert!(left < 396 && left > 300, "the handler had {left} ms");

        assert_eq!(seen.calls.load(Ordering::SeqCst), 3);
        assert!(!seen.cancelled.load(Ordering::SeqCst));
    })
    .await;
}

#[tokio::test]
async fn a_slow_tonic_handler_is_cancelled_and_the_client_gets_deadline_exceeded() {
    bounded(async {
        // The server never gives more than 200 ms, so its layer answers
        // long before tonic's own timer for the 2 s the client sends.
        let config = ReceiveConfig::builder()
            .max_budget(Duration::from_millis(200))
            .build()
            .unwrap();
        let (addr, seen) = serve(config).await;
        let mut client = client(addr, SendConfig::default()).await;

        let start = Instant::now();
        let status = Deadline::after(Duration::from_secs(2))
            .scope(call(&mut client, work_for(3000)))
            .await
            .unwrap_err();
        let took = start.elapsed();

        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
        assert_eq!(status.message(), "deadline exceeded");
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_millis(1000),
            "answered after {took:?}"
        );
        assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
        assert!(
            seen.cancelled.load(Ordering::SeqCst),
            "the handler's work was dropped"
        );
    })
    .await;
}

#[tokio::test]
async fn with_no_cap_the_slow_handler_is_cancelled_at_the_clients_budget() {
    bounded(async {
        let (addr, seen) = serve(ReceiveConfig::default()).await;
        let mut client = client(addr, SendConfig::default()).await;

        let start = Instant::now();
        let status = Deadline::after(Duration::from_millis(300))
            .scope(call(&mut client, work_for(3000)))
            .await
            .unwrap_err();
        let took = start.elapsed();

        // Three timers end the call at the same budget: tonic's in the
        // client's channel (it reads the grpc-timeout the client layer
        // wrote) and in the server, both answering CANCELLED, and the
        // server layer's, answering DEADLINE_EXCEEDED. The client's own
        // usually fires first, so either code may come back.
        assert!(
            matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
            "{status:?}"
        );
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_millis(1000),
            "answered after {took:?}"
        );
        // The handler is dropped either way; its guard may run just after
        // the client has its answer.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            seen.cancelled.load(Ordering::SeqCst),
            "the handler's work was dropped"
        );
        assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn a_malformed_grpc_timeout_is_invalid_argument_without_calling_the_handler() {
    bounded(async {
        let (addr, seen) = serve(ReceiveConfig::default()).await;
        let mut client = client(addr, SendConfig::default()).await;

        // Sent by hand as metadata; with no deadline the client layer
        // passes it on as it is.
        let mut req = work_for(0);
        req.metadata_mut()
            .insert("grpc-timeout", MetadataValue::from_static("soon"));
        let status = call(&mut client, req).await.unwrap_err();

        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with("invalid grpc-timeout: "),
            "{status:?}"
        );
        assert_eq!(
            seen.calls.load(Ordering::SeqCst),
            0,
            "the handler never ran"
        );
    })
    .await;
}

#[tokio::test]
async fn a_client_whose_deadline_has_passed_does_not_send() {
    bounded(async {
        let (addr, seen) = serve(ReceiveConfig::default()).await;
        let mut client = client(addr, SendConfig::default()).await;

        let deadline = Deadline::after(Duration::from_millis(1));
        tokio::time::sleep(Duration::from_millis(5)).await;
        let status = deadline
            .scope(call(&mut client, work_for(0)))
            .await
            .unwrap_err();
        // tonic reports the layer's error as UNKNOWN, with it as the source.
        assert_eq!(status.code(), Code::Unknown, "{status:?}");
        let rejected = std::error::Error::source(&status)
            .and_then(|e| e.downcast_ref::<Rejected>())
            .unwrap_or_else(|| panic!("refused before sending: {status:?}"));
        assert_eq!(rejected.reason(), Reason::DeadlineExceeded);
        assert_eq!(seen.calls.load(Ordering::SeqCst), 0, "nothing was sent");
    })
    .await;
}

//! A real tonic server on loopback (HTTP/2, no protoc: the messages by
//! hand with prost's derive, the service as tonic's generated code is)
//! answering refusals with the codes and pushback of the table in
//! `ballast::answer`: the server's own rate limit per client as
//! `RESOURCE_EXHAUSTED` (through `grpc::status_error` on its layer stack),
//! and a refusal of its call to a dependency as `UNAVAILABLE` (through
//! `Rejected::to_grpc_status` in the handler), each with
//! `grpc-retry-pushback-ms`. Without the mapping, tonic's server resets
//! the stream on the same refusal, and the caller sees `INTERNAL` ("h2
//! protocol error") with no hint of a rate limit.
//!
//! Real sockets, so the real clock; every test is bounded by 5 s.
#![cfg(feature = "tonic")]

use ballast::grpc::{RETRY_PUSHBACK_MS, status_error};
use ballast::prelude::*;
use ballast::ratelimit;
use http::uri::PathAndQuery;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, GrpcMethod, Request, Response, Status};
use tonic_prost::ProstCodec;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const SERVICE: &str = "ballast.test.Stock";
const METHOD: &str = "Get";
const PATH: &str = "/ballast.test.Stock/Get";

#[derive(Clone, PartialEq, prost::Message)]
struct StockRequest {
    #[prost(string, tag = "1")]
    item: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StockReply {
    #[prost(uint32, tag = "1")]
    left: u32,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

/// The handler: asks the dependency through our client-side limit
/// toward it, and answers its refusal as refused on the client side.
async fn get_stock(to_dependency: RateLimiter) -> Result<Response<StockReply>, Status> {
    let dependency = ServiceBuilder::new()
        .with_rate_limiter(&to_dependency)
        .service(service_fn(|()| async { Ok::<_, std::io::Error>(3) }));
    match dependency.oneshot(()).await {
        Ok(left) => Ok(Response::new(StockReply { left })),
        Err(err) => Err(Rejected::find(&err)
            .map(|r| r.to_grpc_status(Side::Client))
            .unwrap_or_else(|| Status::internal("dependency failed"))),
    }
}

struct GetSvc(RateLimiter);

impl tonic::server::UnaryService<StockRequest> for GetSvc {
    type Response = StockReply;
    type Future = BoxFuture<Response<StockReply>, Status>;

    fn call(&mut self, _req: Request<StockRequest>) -> Self::Future {
        Box::pin(get_stock(self.0.clone()))
    }
}

#[derive(Clone)]
struct StockServer(RateLimiter);

impl NamedService for StockServer {
    const NAME: &'static str = SERVICE;
}

impl Service<http::Request<Body>> for StockServer {
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
        let method = GetSvc(self.0.clone());
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
            Ok(grpc.unary(method, req).await)
        })
    }
}

fn one_a_minute() -> ratelimit::Config {
    ratelimit::Config::builder()
        .rate(1, Duration::from_secs(60))
        .build()
        .expect("a valid limit")
}

fn client_of(req: &http::Request<Body>) -> Vec<u8> {
    req.headers()
        .get("x-client")
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default()
}

/// A tonic server limiting each client to one call a minute, with its
/// refusals mapped to statuses when `mapped`, and a limit of one call a
/// minute toward its dependency.
async fn serve(mapped: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let per_client = KeyedRateLimiter::new(one_a_minute());
    let service = StockServer(RateLimiter::new(one_a_minute()));
    let incoming = TcpIncoming::from(listener);
    if mapped {
        let router = Server::builder()
            .layer(
                ServiceBuilder::new()
                    .map_err(|e: BoxError| status_error(e, Side::Server))
                    .with_keyed_rate_limiter(&per_client, client_of),
            )
            .add_service(service);
        tokio::spawn(router.serve_with_incoming(incoming));
    } else {
        let router = Server::builder()
            .layer(ServiceBuilder::new().with_keyed_rate_limiter(&per_client, client_of))
            .add_service(service);
        tokio::spawn(router.serve_with_incoming(incoming));
    }
    addr
}

async fn call(addr: SocketAddr, client: &str) -> Result<StockReply, Status> {
    let channel: Channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("an endpoint")
        .connect()
        .await
        .expect("connected");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(format!("not ready: {e}")))?;
    let mut req = Request::new(StockRequest {
        item: "apples".into(),
    });
    req.metadata_mut()
        .insert("x-client", client.parse().expect("ascii"));
    req.extensions_mut()
        .insert(GrpcMethod::new(SERVICE, METHOD));
    let res = grpc
        .unary(req, PathAndQuery::from_static(PATH), ProstCodec::default())
        .await?;
    Ok(res.into_inner())
}

fn pushback_ms(status: &Status) -> Option<u64> {
    status
        .metadata()
        .get(RETRY_PUSHBACK_MS)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(5), body)
        .await
        .expect("the test finished within 5 s");
}

#[tokio::test]
async fn the_servers_rate_limit_per_client_is_resource_exhausted_with_pushback() {
    bounded(async {
        let addr = serve(true).await;
        call(addr, "alice").await.expect("the first call passes");
        let status = call(addr, "alice").await.unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().starts_with("rate limited"), "{status:?}");
        let ms = pushback_ms(&status).expect("a pushback");
        assert!((1..=60_000).contains(&ms), "{ms}");
    })
    .await;
}

#[tokio::test]
async fn a_refused_call_to_a_dependency_is_unavailable_not_resource_exhausted() {
    bounded(async {
        let addr = serve(true).await;
        // Two clients, each within its own limit: the second call is
        // refused by our limit toward the dependency, not theirs.
        assert_eq!(call(addr, "alice").await.expect("passes").left, 3);
        let status = call(addr, "bob").await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(pushback_ms(&status).is_some_and(|ms| ms <= 60_000));
    })
    .await;
}

#[tokio::test]
async fn without_the_mapping_a_refusal_reaches_the_caller_as_a_reset_stream() {
    bounded(async {
        let addr = serve(false).await;
        call(addr, "alice").await.expect("the first call passes");
        let status = call(addr, "alice").await.unwrap_err();
        assert_eq!(status.code(), Code::Internal, "{status:?}");
        assert!(pushback_ms(&status).is_none());
    })
    .await;
}

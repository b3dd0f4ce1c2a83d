//! Safe by default: the plain layers never send a non-idempotent HTTP
//! request twice (POST, PATCH, CONNECT), unless it carries an
//! `Idempotency-Key` or is a gRPC call (which the gRPC rules govern), or
//! the user opts in.
#![cfg(feature = "http")]

use ballast_retry::grpc::GrpcHttpClassifier;
use ballast_retry::http::{HttpClassifier, IdempotentRequests};
use ballast_retry::{
    AnyRequests, Backoff, Classifier, Config, HedgeConfig, HedgeDelay, HedgePolicy, Jitter, Policy,
    RetryLayer,
};
use http::{Method, Request, Response};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tower::{Layer, Service, ServiceExt, service_fn};

const MS: Duration = Duration::from_millis(1);

fn config() -> Config {
    Config::builder()
        .max_attempts(3)
        .backoff(
            Backoff::constant(10 * MS)
                .jitter(Jitter::None)
                .build()
                .unwrap(),
        )
        .no_budget()
        .build()
        .unwrap()
}

fn request(method: Method) -> http::request::Builder {
    Request::builder().method(method).uri("/orders")
}

fn post() -> http::request::Builder {
    request(Method::POST)
}

fn grpc_call() -> http::request::Builder {
    post()
        .uri("/orders.v1.Orders/Create")
        .header("content-type", "application/grpc+proto")
}

/// A server that answers every request with `answer`; counts them.
fn server(
    answer: fn() -> Response<()>,
) -> (
    impl Service<Request<()>, Response = Response<()>, Error = io::Error, Future: Send> + Clone,
    Arc<AtomicU32>,
) {
    let sent = Arc::new(AtomicU32::new(0));
    let svc = service_fn({
        let sent = sent.clone();
        move |_: Request<()>| {
            sent.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, io::Error>(answer()) }
        }
    });
    (svc, sent)
}

fn unavailable() -> Response<()> {
    Response::builder().status(503).body(()).unwrap()
}

fn grpc_unavailable() -> Response<()> {
    Response::builder()
        .header("grpc-status", "14")
        .body(())
        .unwrap()
}

fn grpc_invalid_argument() -> Response<()> {
    Response::builder()
        .header("grpc-status", "3")
        .body(())
        .unwrap()
}

/// How often a request built by `req` is sent through `layer` (over a
/// server answering `answer`) before its answer comes back.
async fn times_sent<C, K>(
    layer: RetryLayer<C, K>,
    answer: fn() -> Response<()>,
    req: http::request::Builder,
) -> u32
where
    C: Classifier<Response<()>, io::Error>,
    K: ballast_retry::CloneRequest<Request<()>> + Clone,
{
    let (server, sent) = server(answer);
    let mut svc = layer.layer(server);
    svc.ready()
        .await
        .unwrap()
        .call(req.body(()).unwrap())
        .await
        .unwrap();
    sent.load(Ordering::SeqCst)
}

fn http_policy() -> Policy<HttpClassifier> {
    Policy::new(config(), HttpClassifier::new())
}

#[tokio::test(start_paused = true)]
async fn the_plain_layer_sends_a_post_that_got_503_once() {
    assert_eq!(
        times_sent(http_policy().layer(), unavailable, post()).await,
        1
    );
}

#[tokio::test(start_paused = true)]
async fn the_plain_layer_sends_a_patch_or_a_connect_once() {
    for method in [Method::PATCH, Method::CONNECT] {
        let sent = times_sent(http_policy().layer(), unavailable, request(method.clone())).await;
        assert_eq!(sent, 1, "{method}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_plain_layer_retries_idempotent_methods() {
    for method in [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
    ] {
        let sent = times_sent(http_policy().layer(), unavailable, request(method.clone())).await;
        assert_eq!(sent, 3, "{method}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_post_with_an_idempotency_key_is_retried() {
    let keyed = || post().header("idempotency-key", "8e03978e-40d5-43e8-bc93-6894a57f9324");
    assert_eq!(
        times_sent(http_policy().layer(), unavailable, keyed()).await,
        3
    );
    let idempotent = http_policy().layer().idempotent_http();
    assert_eq!(times_sent(idempotent, unavailable, keyed()).await, 3);
}

#[tokio::test(start_paused = true)]
async fn idempotent_http_still_sends_a_post_once() {
    let layer = http_policy().layer().idempotent_http();
    assert_eq!(times_sent(layer, unavailable, post()).await, 1);
}

#[tokio::test(start_paused = true)]
async fn a_grpc_call_follows_the_grpc_rules() {
    let grpc = || Policy::new(config(), GrpcHttpClassifier::new());
    // UNAVAILABLE is retryable, INVALID_ARGUMENT is not.
    assert_eq!(
        times_sent(grpc().layer(), grpc_unavailable, grpc_call()).await,
        3
    );
    assert_eq!(
        times_sent(grpc().layer(), grpc_invalid_argument, grpc_call()).await,
        1
    );
    // A plain POST that is not a gRPC call is still sent once.
    assert_eq!(
        times_sent(grpc().layer(), grpc_unavailable, post()).await,
        1
    );
}

#[tokio::test(start_paused = true)]
async fn users_opt_in_to_retrying_non_idempotent_requests() {
    let any = http_policy().layer().clone_requests_with(AnyRequests);
    assert_eq!(times_sent(any, unavailable, post()).await, 3);
    let with_post = IdempotentRequests::new().allow(Method::POST);
    let allowed = http_policy().layer().clone_requests_with(with_post);
    assert_eq!(times_sent(allowed, unavailable, post()).await, 3);
}

#[tokio::test(start_paused = true)]
async fn the_plain_hedging_layer_never_hedges_a_post() {
    let policy = HedgePolicy::new(
        HedgeConfig::builder()
            .delay(HedgeDelay::Fixed(10 * MS))
            .no_budget()
            .build()
            .unwrap(),
    );
    let sent = Arc::new(AtomicU32::new(0));
    let slow = service_fn({
        let sent = sent.clone();
        move |_: Request<()>| {
            sent.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(100 * MS).await;
                Ok::<_, io::Error>(Response::new(()))
            }
        }
    });
    let mut svc = policy.layer().layer(slow);
    for (req, expected) in [(post(), 1), (request(Method::GET), 2)] {
        sent.store(0, Ordering::SeqCst);
        let req = req.body(()).unwrap();
        svc.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(sent.load(Ordering::SeqCst), expected);
    }
}

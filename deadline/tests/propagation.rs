//! The propagation layers on tokio's paused clock, with services in
//! process (no network): what the client writes, what the server reads,
//! refuses and cancels, and what the hop span records.
#![cfg(feature = "http")]

use ballast_deadline::codec::{DEFAULT_TIMEOUT_MS_HEADER, GRPC_TIMEOUT};
use ballast_deadline::propagate::{
    DEADLINE_ERROR_HEADER, ReceiveConfig, ReceiveDeadlineLayer, SendConfig, SendDeadlineLayer,
};
use ballast_deadline::{BoxError, Deadline, DeadlineCarrier, Reason, Rejected};
use http::{HeaderMap, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::{ServiceBuilder, ServiceExt, service_fn};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A client over an inner service that returns the headers it was sent.
async fn sent_headers(config: SendConfig, req: Request<()>) -> Result<HeaderMap, BoxError> {
    let echo =
        service_fn(
            |req: Request<()>| async move { Ok::<_, Infallible>(req.into_parts().0.headers) },
        );
    ServiceBuilder::new()
        .layer(SendDeadlineLayer::new(config))
        .service(echo)
        .oneshot(req)
        .await
}

fn margin(n: u64) -> SendConfig {
    SendConfig::builder().margin(ms(n)).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn client_writes_the_remaining_budget_less_the_margin_in_both_formats() {
    let deadline = Deadline::after(ms(300));
    tokio::time::advance(ms(40)).await;
    let headers = deadline
        .scope(sent_headers(margin(10), Request::new(())))
        .await
        .unwrap();
    assert_eq!(headers[GRPC_TIMEOUT], "250000u");
    assert_eq!(headers[DEFAULT_TIMEOUT_MS_HEADER], "250");
}

#[tokio::test(start_paused = true)]
async fn client_sends_the_earlier_of_the_request_and_task_deadlines() {
    let mut req = Request::new(());
    req.set_deadline(Deadline::after(ms(100)));
    let headers = Deadline::after(ms(300))
        .scope(sent_headers(margin(0), req))
        .await
        .unwrap();
    assert_eq!(headers[DEFAULT_TIMEOUT_MS_HEADER], "100");

    let mut req = Request::new(());
    req.set_deadline(Deadline::after(ms(900)));
    let headers = Deadline::after(ms(200))
        .scope(sent_headers(margin(0), req))
        .await
        .unwrap();
    assert_eq!(headers[DEFAULT_TIMEOUT_MS_HEADER], "200");
}

#[tokio::test(start_paused = true)]
async fn client_keeps_a_shorter_timeout_already_written_on_the_request() {
    // tonic's `Request::set_timeout(100ms)` writes `grpc-timeout: 100m`;
    // the task's 30 s must not replace it.
    let req = request(&[(GRPC_TIMEOUT, "100m")]);
    let headers = Deadline::after(Duration::from_secs(30))
        .scope(sent_headers(margin(10), req))
        .await
        .unwrap();
    assert_eq!(headers[GRPC_TIMEOUT], "100000u");
    assert_eq!(headers[DEFAULT_TIMEOUT_MS_HEADER], "100");

    // A millisecond header already there binds the same way.
    let req = request(&[(DEFAULT_TIMEOUT_MS_HEADER, "70")]);
    let headers = Deadline::after(Duration::from_secs(30))
        .scope(sent_headers(margin(10), req))
        .await
        .unwrap();
    assert_eq!(headers[DEFAULT_TIMEOUT_MS_HEADER], "70");
}

#[tokio::test(start_paused = true)]
async fn client_replaces_a_longer_timeout_already_written_on_the_request() {
    let req = request(&[(GRPC_TIMEOUT, "30S")]);
    let headers = Deadline::after(ms(300))
        .scope(sent_headers(margin(10), req))
        .await
        .unwrap();
    assert_eq!(headers[GRPC_TIMEOUT], "290000u");
}

#[tokio::test(start_paused = true)]
async fn server_makes_the_deadline_current_inside_the_handlers_call() {
    // A layer below the server reads the deadline in its own `call`,
    // before its future exists (retry plans attempts there).
    let seen = Arc::new(Mutex::new(None));
    let seen_in_call = seen.clone();
    let svc = ServiceBuilder::new()
        .layer(ReceiveDeadlineLayer::new(ReceiveConfig::default()))
        .service(tower::util::MapRequest::new(
            service_fn(|_: Request<()>| async {
                Ok::<_, Infallible>(Response::new(String::new()))
            }),
            move |req: Request<()>| {
                *seen_in_call.lock().unwrap() = Some(Deadline::current());
                req
            },
        ));
    let start = tokio::time::Instant::now();
    let res = svc
        .oneshot(request(&[(DEFAULT_TIMEOUT_MS_HEADER, "250")]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let in_call = seen.lock().unwrap().take().expect("the handler was called");
    assert_eq!(in_call.map(Deadline::instant), Some(start + ms(250)));
}

#[tokio::test(start_paused = true)]
async fn client_writes_only_the_configured_header() {
    let config = SendConfig::builder()
        .grpc_timeout(false)
        .timeout_header("x-budget-ms")
        .margin(Duration::ZERO)
        .build()
        .unwrap();
    let headers = Deadline::after(ms(70))
        .scope(sent_headers(config, Request::new(())))
        .await
        .unwrap();
    assert_eq!(headers["x-budget-ms"], "70");
    assert!(headers.get(GRPC_TIMEOUT).is_none());
    assert!(headers.get(DEFAULT_TIMEOUT_MS_HEADER).is_none());
}

#[tokio::test(start_paused = true)]
async fn client_without_a_deadline_sends_the_request_unchanged() {
    let headers = sent_headers(margin(5), Request::new(())).await.unwrap();
    assert!(headers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn client_refuses_before_sending_when_the_margin_eats_the_budget() {
    let calls = Arc::new(AtomicUsize::new(0));
    let inner = {
        let calls = calls.clone();
        service_fn(move |_: Request<()>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(()) }
        })
    };
    let client = ServiceBuilder::new()
        .layer(SendDeadlineLayer::new(margin(10)))
        .service(inner);
    // 10 ms left, 10 ms margin: nothing to pass on.
    let err = Deadline::after(ms(10))
        .scope(client.clone().oneshot(Request::new(())))
        .await
        .unwrap_err();
    let rejected = err.downcast_ref::<Rejected>().expect("a typed rejection");
    assert_eq!(rejected.reason(), Reason::DeadlineExceeded);
    // Already past.
    let deadline = Deadline::after(ms(1));
    tokio::time::advance(ms(5)).await;
    let err = deadline
        .scope(client.oneshot(Request::new(())))
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<Rejected>().is_some());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// A handler that answers with the budget it sees, in ms, after `work`.
fn budget_reporter(
    work: Duration,
    calls: Arc<AtomicUsize>,
    dropped_early: Arc<AtomicBool>,
) -> impl tower::Service<
    Request<()>,
    Response = Response<String>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<String>, Infallible>>,
> + Clone {
    service_fn(move |req: Request<()>| {
        calls.fetch_add(1, Ordering::SeqCst);
        let dropped_early = dropped_early.clone();
        async move {
            let current = Deadline::current().map(|d| d.remaining().as_millis());
            let carried = req.deadline().map(|d| d.remaining().as_millis());
            assert_eq!(current, carried, "the scope and the extensions agree");
            // Set unless the work completes.
            let guard = DropFlag(Some(dropped_early));
            tokio::time::sleep(work).await;
            std::mem::forget(guard);
            Ok(Response::new(format!("{current:?}")))
        }
    })
}

struct DropFlag(Option<Arc<AtomicBool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

struct Server {
    calls: Arc<AtomicUsize>,
    cancelled: Arc<AtomicBool>,
}

impl Server {
    fn new() -> Self {
        Server {
            calls: Arc::new(AtomicUsize::new(0)),
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }

    async fn call(
        &self,
        config: ReceiveConfig,
        work: Duration,
        req: Request<()>,
    ) -> Response<String> {
        ServiceBuilder::new()
            .layer(ReceiveDeadlineLayer::new(config))
            .service(budget_reporter(
                work,
                self.calls.clone(),
                self.cancelled.clone(),
            ))
            .oneshot(req)
            .await
            .unwrap()
    }
}

fn request(headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::builder();
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn server_gives_the_handler_the_budget_it_received() {
    let s = Server::new();
    let res = s
        .call(
            ReceiveConfig::default(),
            ms(1),
            request(&[(DEFAULT_TIMEOUT_MS_HEADER, "250")]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body(), "Some(250)");
    let res = s
        .call(
            ReceiveConfig::default(),
            ms(1),
            request(&[(GRPC_TIMEOUT, "2S")]),
        )
        .await;
    assert_eq!(res.into_body(), "Some(2000)");
}

#[tokio::test(start_paused = true)]
async fn server_takes_the_earlier_of_both_headers_and_its_cap() {
    let s = Server::new();
    let both = [(GRPC_TIMEOUT, "80m"), (DEFAULT_TIMEOUT_MS_HEADER, "120")];
    let res = s
        .call(ReceiveConfig::default(), ms(1), request(&both))
        .await;
    assert_eq!(res.into_body(), "Some(80)");
    let capped = ReceiveConfig::builder().max_budget(ms(50)).build().unwrap();
    let res = s.call(capped, ms(1), request(&both)).await;
    assert_eq!(res.into_body(), "Some(50)");
}

#[tokio::test(start_paused = true)]
async fn server_without_a_budget_runs_the_handler_with_no_deadline() {
    let s = Server::new();
    let res = s.call(ReceiveConfig::default(), ms(1), request(&[])).await;
    assert_eq!(res.into_body(), "None");
}

#[tokio::test(start_paused = true)]
async fn server_ignores_a_header_it_is_not_configured_to_read() {
    let s = Server::new();
    let config = ReceiveConfig::builder()
        .grpc_timeout(false)
        .build()
        .unwrap();
    let res = s
        .call(config, ms(1), request(&[(GRPC_TIMEOUT, "bad")]))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body(), "None");
}

#[tokio::test(start_paused = true)]
async fn server_refuses_a_request_that_arrives_expired_without_calling_the_handler() {
    let s = Server::new();
    let res = s
        .call(
            ReceiveConfig::default(),
            ms(1),
            request(&[(DEFAULT_TIMEOUT_MS_HEADER, "0")]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    let grpc = [
        (GRPC_TIMEOUT, "0n"),
        ("content-type", "application/grpc+proto"),
    ];
    let res = s
        .call(ReceiveConfig::default(), ms(1), request(&grpc))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["grpc-status"], "4");
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn server_cancels_the_handler_when_the_deadline_passes() {
    let s = Server::new();
    let start = tokio::time::Instant::now();
    let res = s
        .call(
            ReceiveConfig::default(),
            ms(500),
            request(&[(DEFAULT_TIMEOUT_MS_HEADER, "100")]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        start.elapsed(),
        ms(100),
        "answered at the deadline, not after the work"
    );
    assert!(
        s.cancelled.load(Ordering::SeqCst),
        "the handler's work was dropped"
    );
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);

    let grpc = [(GRPC_TIMEOUT, "100m"), ("content-type", "application/grpc")];
    let res = s
        .call(ReceiveConfig::default(), ms(500), request(&grpc))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["grpc-status"], "4");
}

#[tokio::test(start_paused = true)]
async fn server_keeps_an_earlier_deadline_of_its_own_task() {
    let s = Server::new();
    let res = Deadline::after(ms(30))
        .scope(s.call(
            ReceiveConfig::default(),
            ms(1),
            request(&[(DEFAULT_TIMEOUT_MS_HEADER, "900")]),
        ))
        .await;
    assert_eq!(res.into_body(), "Some(30)");
}

#[tokio::test(start_paused = true)]
async fn server_refuses_malformed_headers_with_a_reason() {
    let s = Server::new();
    for bad in ["", "-1", "1.5", "abc", "99999999999999999999999"] {
        let res = s
            .call(
                ReceiveConfig::default(),
                ms(1),
                request(&[(DEFAULT_TIMEOUT_MS_HEADER, bad)]),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        let why = res.headers()[DEADLINE_ERROR_HEADER].to_str().unwrap();
        assert!(why.starts_with("invalid millisecond timeout: "), "{why}");
    }
    for bad in ["", "300", "1x", "123456789n", "-1S"] {
        let grpc = [(GRPC_TIMEOUT, bad), ("content-type", "application/grpc")];
        let res = s
            .call(ReceiveConfig::default(), ms(1), request(&grpc))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["grpc-status"], "3", "{bad:?}");
        let why = res.headers()["grpc-message"].to_str().unwrap();
        assert!(why.starts_with("invalid grpc-timeout: "), "{why}");
    }
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn one_hop_to_the_next_passes_on_less_than_it_received() {
    // server A's handler calls server B through a client with a 10 ms margin.
    let b = ServiceBuilder::new()
        .layer(ReceiveDeadlineLayer::default())
        .service(service_fn(|_: Request<()>| async {
            let left = Deadline::current().unwrap().remaining();
            Ok::<_, Infallible>(Response::new(left.as_millis().to_string()))
        }));
    let a = ServiceBuilder::new()
        .layer(ReceiveDeadlineLayer::default())
        .service(service_fn(move |_: Request<()>| {
            let b = b.clone();
            async move {
                tokio::time::sleep(ms(30)).await;
                let res = ServiceBuilder::new()
                    .layer(SendDeadlineLayer::new(margin(10)))
                    .service(b)
                    .oneshot(Request::new(()))
                    .await?;
                Ok::<_, BoxError>(res)
            }
        }));
    let res = a.oneshot(request(&[(GRPC_TIMEOUT, "300m")])).await.unwrap();
    assert_eq!(res.into_body(), "260");
}

#[test]
fn invalid_propagation_settings_are_config_errors() {
    let e = SendConfig::builder()
        .margin(Duration::from_secs(60))
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "margin");
    let e = SendConfig::builder()
        .grpc_timeout(false)
        .no_timeout_header()
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "grpc_timeout");
    let e = SendConfig::builder()
        .timeout_header("bad header")
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "timeout_header");
    let e = SendConfig::builder()
        .timeout_header("grpc-timeout")
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "timeout_header");
    let e = ReceiveConfig::builder()
        .max_budget(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "max_budget");
    let e = ReceiveConfig::builder()
        .timeout_header("")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("valid HTTP header name"), "{e}");
    assert!(SendConfig::builder().margin(Duration::ZERO).build().is_ok());
}

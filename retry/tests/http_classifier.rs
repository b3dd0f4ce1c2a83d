//! The HTTP classifier: which statuses and errors are retried, how
//! `Retry-After` (seconds and all three HTTP-date forms) sets the delay,
//! and which methods may be sent again.
#![cfg(feature = "http")]

mod common;

use ballast_deadline::Deadline;
use ballast_retry::http::{HttpClassifier, IdempotentRequests, parse_retry_after};
use ballast_retry::{Action, Classifier, ConnectionErrors, Policy};
use common::builder;
use http::{Method, Request, Response, StatusCode};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// Sun, 06 Nov 1994 08:49:37 GMT: RFC 9110's example date.
fn example_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(784_111_777)
}

type Answer = Result<Response<()>, io::Error>;

fn status(code: u16) -> Answer {
    Ok(Response::builder().status(code).body(()).unwrap())
}

fn with_retry_after(code: u16, value: &str) -> Answer {
    Ok(Response::builder()
        .status(code)
        .header("retry-after", value)
        .body(())
        .unwrap())
}

#[test]
fn only_429_502_503_and_504_are_retried_by_default() {
    let c = HttpClassifier::new();
    for code in 100..1000u16 {
        let expected = match code {
            429 | 502 | 503 | 504 => Action::Retry,
            _ => Action::Return,
        };
        assert_eq!(c.classify(&status(code)), expected, "{code}");
    }
}

#[test]
fn the_retried_statuses_can_be_changed() {
    let c = HttpClassifier::new()
        .also_retry(StatusCode::INTERNAL_SERVER_ERROR)
        .never_retry(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(c.classify(&status(500)), Action::Retry);
    assert_eq!(c.classify(&status(429)), Action::Return);
    assert_eq!(c.classify(&status(503)), Action::Retry);
    let only = HttpClassifier::new().statuses([StatusCode::CONFLICT]);
    assert_eq!(only.classify(&status(409)), Action::Retry);
    assert_eq!(only.classify(&status(503)), Action::Return);
}

#[test]
fn retry_after_in_seconds_is_the_least_delay() {
    let c = HttpClassifier::new();
    assert_eq!(
        c.classify(&with_retry_after(503, "7")),
        Action::RetryAfter(Duration::from_secs(7))
    );
    assert_eq!(
        c.classify(&with_retry_after(429, " 120 ")),
        Action::RetryAfter(Duration::from_secs(60)),
    );
    // Zero is "now": the backoff applies.
    assert_eq!(c.classify(&with_retry_after(503, "0")), Action::Retry);
    // Retry-After on a status that is not retried changes nothing.
    assert_eq!(c.classify(&with_retry_after(500, "5")), Action::Return);
    assert_eq!(c.classify(&with_retry_after(301, "5")), Action::Return);
}

#[test]
fn retry_after_as_a_date_in_each_form_is_counted_from_the_wall_clock() {
    let c = HttpClassifier::new().wall_clock(example_now);
    for date in [
        "Sun, 06 Nov 1994 08:50:07 GMT",
        "Sunday, 06-Nov-94 08:50:07 GMT",
        "Sun Nov  6 08:50:07 1994",
    ] {
        assert_eq!(
            c.classify(&with_retry_after(503, date)),
            Action::RetryAfter(Duration::from_secs(30)),
            "{date}"
        );
    }
    // A date across a month and a year boundary.
    let now = UNIX_EPOCH + Duration::from_secs(1_798_761_590); // Thu, 31 Dec 2026 23:59:50
    assert_eq!(
        parse_retry_after(b"Fri, 01 Jan 2027 00:00:10 GMT", now),
        Some(Duration::from_secs(20))
    );
    // A date already past is "now".
    assert_eq!(
        c.classify(&with_retry_after(503, "Sun, 06 Nov 1994 08:00:00 GMT")),
        Action::Retry
    );
}

#[test]
fn a_malformed_retry_after_leaves_the_backoff_in_charge() {
    let c = HttpClassifier::new().wall_clock(example_now);
    for bad in [
        "soon",
        "-5",
        "1.5",
        "",
        "Sun, 06 Nov 1994 08:50:07 UTC",
        "\u{e9}",
    ] {
        assert_eq!(
            c.classify(&with_retry_after(503, bad)),
            Action::Retry,
            "{bad:?}"
        );
    }
}

#[test]
fn a_huge_retry_after_is_capped_by_the_maximum() {
    let c = HttpClassifier::new().max_retry_after(Duration::from_secs(5));
    assert_eq!(
        c.classify(&with_retry_after(503, "3600")),
        Action::RetryAfter(Duration::from_secs(5))
    );
    assert_eq!(
        c.classify(&with_retry_after(503, "99999999999999999999999999")),
        Action::RetryAfter(Duration::from_secs(5))
    );
    let dated = HttpClassifier::new()
        .wall_clock(example_now)
        .max_retry_after(Duration::from_secs(10));
    assert_eq!(
        dated.classify(&with_retry_after(503, "Fri, 01 Jan 2100 00:00:00 GMT")),
        Action::RetryAfter(Duration::from_secs(10))
    );
    // Zero ignores Retry-After altogether.
    let ignoring = HttpClassifier::new().max_retry_after(Duration::ZERO);
    assert_eq!(
        ignoring.classify(&with_retry_after(503, "3")),
        Action::Retry
    );
}

#[test]
fn errors_are_retried_only_when_a_filter_says_so() {
    let refused: Answer = Err(io::ErrorKind::ConnectionRefused.into());
    let reset: Answer = Err(io::Error::other(io::Error::from(
        io::ErrorKind::ConnectionReset,
    )));
    let invalid: Answer = Err(io::ErrorKind::InvalidData.into());
    assert_eq!(HttpClassifier::new().classify(&refused), Action::Return);
    let c = HttpClassifier::new().retry_errors_if(ConnectionErrors);
    assert_eq!(c.classify(&refused), Action::Retry);
    assert_eq!(c.classify(&reset), Action::Retry);
    assert_eq!(c.classify(&invalid), Action::Return);
    let own = HttpClassifier::new()
        .retry_errors_if(|e: &io::Error| e.kind() == io::ErrorKind::InvalidData);
    assert_eq!(own.classify(&invalid), Action::Retry);
    assert_eq!(own.classify(&refused), Action::Return);
}

/// A status and, if any, the Retry-After sent with it.
type Step = (u16, Option<&'static str>);

/// A dependency answering from a script of statuses (with an optional
/// Retry-After), logging when each call started and with which method.
#[derive(Clone)]
struct Http {
    script: Arc<Mutex<Vec<Step>>>,
    log: Arc<Mutex<Vec<(u128, Method)>>>,
    origin: Instant,
}

impl Http {
    fn new(script: &[Step]) -> Self {
        let mut script = script.to_vec();
        script.reverse();
        Self {
            script: Arc::new(Mutex::new(script)),
            log: Arc::default(),
            origin: Instant::now(),
        }
    }

    fn service(
        &self,
    ) -> impl Service<Request<String>, Response = Response<()>, Error = io::Error, Future: Send>
    + Clone
    + Send {
        let this = self.clone();
        service_fn(move |req: Request<String>| {
            let at = (Instant::now() - this.origin).as_millis();
            this.log.lock().unwrap().push((at, req.method().clone()));
            let mut script = this.script.lock().unwrap();
            let (code, after) = if script.len() > 1 {
                script.pop().unwrap()
            } else {
                script[0]
            };
            let mut r = Response::builder().status(code);
            if let Some(after) = after {
                r = r.header("retry-after", after);
            }
            let r = r.body(()).unwrap();
            async move { Ok::<_, io::Error>(r) }
        })
    }

    fn starts(&self) -> Vec<u128> {
        self.log.lock().unwrap().iter().map(|(at, _)| *at).collect()
    }
}

#[tokio::test(start_paused = true)]
async fn the_layer_waits_out_a_retry_after_longer_than_its_backoff() {
    let dep = Http::new(&[(503, Some("2")), (429, Some("1")), (200, None)]);
    let policy = Policy::new(builder().build().unwrap(), HttpClassifier::new());
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer().idempotent_http())
        .service(dep.service());
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(Request::get("/").body(String::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Backoff 100 ms, but the server asked for 2 s, then 1 s.
    assert_eq!(dep.starts(), [0, 2000, 3000]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_returns_that_response_at_once() {
    let dep = Http::new(&[(503, Some("5")), (200, None)]);
    let policy = Policy::new(builder().build().unwrap(), HttpClassifier::new());
    let mut svc = ServiceBuilder::new()
        .layer(
            policy
                .layer()
                .clone_requests_with(IdempotentRequests::new()),
        )
        .service(dep.service());
    let start = Instant::now();
    let r = Deadline::after(Duration::from_secs(1))
        .scope(async {
            let req = Request::get("/").body(String::new()).unwrap();
            svc.ready().await.unwrap().call(req).await
        })
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        503,
        "the server's own answer, not a made-up error"
    );
    assert_eq!(dep.starts(), [0]);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(policy.metrics().gave_up, 1);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_total_time_limit_returns_that_response() {
    let dep = Http::new(&[(503, Some("5")), (200, None)]);
    let config = builder()
        .max_total_time(Duration::from_secs(3))
        .build()
        .unwrap();
    let policy = Policy::new(config, HttpClassifier::new());
    let mut svc = ServiceBuilder::new()
        .layer(
            policy
                .layer()
                .clone_requests_with(IdempotentRequests::new()),
        )
        .service(dep.service());
    let req = Request::get("/").body(String::new()).unwrap();
    let r = svc.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(dep.starts(), [0]);
}

#[tokio::test(start_paused = true)]
async fn only_idempotent_methods_are_sent_again_unless_allowed() {
    let dep = Http::new(&[(503, None)]);
    let policy = Policy::new(
        builder().max_attempts(2).build().unwrap(),
        HttpClassifier::new(),
    );
    let mut svc = ServiceBuilder::new()
        .layer(
            policy
                .layer()
                .clone_requests_with(IdempotentRequests::new().allow(Method::PATCH)),
        )
        .service(dep.service());
    let methods = [
        (Method::GET, 2),
        (Method::HEAD, 2),
        (Method::OPTIONS, 2),
        (Method::PUT, 2),
        (Method::DELETE, 2),
        (Method::TRACE, 2),
        (Method::PATCH, 2),
        (Method::POST, 1),
        (Method::CONNECT, 1),
    ];
    for (method, attempts) in methods {
        assert_eq!(
            attempts_of(&mut svc, &dep, &method).await,
            attempts,
            "{method}"
        );
        assert!(dep.log.lock().unwrap().iter().all(|(_, m)| *m == method));
    }
    let any = IdempotentRequests::new().any_method();
    assert!(any.allows(&Method::POST));
}

#[tokio::test(start_paused = true)]
async fn the_idempotent_http_layer_sends_a_failed_get_again_but_never_a_post() {
    let dep = Http::new(&[(503, None)]);
    let policy = Policy::new(
        builder().max_attempts(3).build().unwrap(),
        HttpClassifier::new(),
    );
    let mut svc = ServiceBuilder::new()
        .layer(policy.layer().idempotent_http())
        .service(dep.service());
    for (method, attempts) in [(Method::GET, 3), (Method::POST, 1)] {
        assert_eq!(
            attempts_of(&mut svc, &dep, &method).await,
            attempts,
            "{method}"
        );
    }
}

/// How many times one `method` request reached `dep` through `svc`, which
/// answers it with a 503.
async fn attempts_of<S>(svc: &mut S, dep: &Http, method: &Method) -> usize
where
    S: Service<Request<String>, Response = Response<()>>,
    S::Error: std::fmt::Debug,
{
    dep.log.lock().unwrap().clear();
    let req = Request::builder()
        .method(method.clone())
        .uri("/")
        .body(String::new())
        .unwrap();
    let r = svc.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(r.status(), 503);
    dep.log.lock().unwrap().len()
}

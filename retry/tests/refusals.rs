//! Refusals from the layers below (a ballast `Rejected`: an open circuit,
//! a full bulkhead...): retried only as they allow, whatever the
//! classifier, and never handed back in place of a real outcome.

use ballast_deadline::Deadline;
use ballast_retry::grpc::GrpcClassifier;
use ballast_retry::{
    BoxError, ConfigBuilder, HedgeConfig, HedgeDelay, HedgePolicy, Policy, Reason, Rejected,
    RetryErrors, hedge, retry,
};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

mod common;

use common::MS;
const SEC: Duration = Duration::from_secs(1);

/// What one attempt meets below the retry layer.
#[derive(Clone, Debug)]
enum Step {
    /// The dependency answers.
    Up,
    /// The dependency fails: a real, retryable failure.
    Down,
    /// A ballast layer below refuses.
    Refused(Rejected),
    /// A ballast layer below refuses, its refusal wrapped in an `io::Error`.
    RefusedWrapped(Rejected),
}

fn circuit_open(after: Duration) -> Step {
    Step::Refused(Rejected::retry_after(Reason::CircuitOpen, after))
}

fn bulkhead_never() -> Step {
    Step::Refused(Rejected::never(Reason::BulkheadFull))
}

impl Step {
    fn outcome(self) -> Result<u16, BoxError> {
        match self {
            Step::Up => Ok(200),
            Step::Down => Err(io::Error::other("down").into()),
            Step::Refused(r) => Err(r.into()),
            Step::RefusedWrapped(r) => Err(io::Error::other(r).into()),
        }
    }
}

/// The stack below the retry layer: answers each attempt from a script
/// (then with its last entry) after `latency`, and logs when each began.
#[derive(Clone)]
struct Below {
    script: Arc<Mutex<Vec<(Duration, Step)>>>,
    starts: Arc<Mutex<Vec<Instant>>>,
    origin: Instant,
}

impl Below {
    fn new(script: &[Step]) -> Self {
        Self::timed(
            &script
                .iter()
                .map(|s| (Duration::ZERO, s.clone()))
                .collect::<Vec<_>>(),
        )
    }

    fn timed(script: &[(Duration, Step)]) -> Self {
        let mut script = script.to_vec();
        script.reverse();
        Self {
            script: Arc::new(Mutex::new(script)),
            starts: Arc::default(),
            origin: Instant::now(),
        }
    }

    fn next(&self) -> (Duration, Step) {
        self.starts.lock().unwrap().push(Instant::now());
        let mut script = self.script.lock().unwrap();
        if script.len() > 1 {
            script.pop().unwrap()
        } else {
            script[0].clone()
        }
    }

    /// When each attempt began, in ms since the stack was made.
    fn start_ms(&self) -> Vec<u128> {
        let starts = self.starts.lock().unwrap();
        starts
            .iter()
            .map(|s| (*s - self.origin).as_millis())
            .collect()
    }

    /// One attempt, as the plain helpers make it.
    fn attempt(&self) -> impl Future<Output = Result<u16, BoxError>> + use<> {
        let (latency, step) = self.next();
        async move {
            tokio::time::sleep(latency).await;
            step.outcome()
        }
    }
}

impl Service<&'static str> for Below {
    type Response = u16;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<u16, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: &'static str) -> Self::Future {
        Box::pin(self.attempt())
    }
}

/// 5 attempts, constant 100 ms without jitter, no budget.
fn config() -> ConfigBuilder {
    common::builder()
}

/// One call through a retry layer of `config` and `RetryErrors` over `below`.
async fn call(config: ConfigBuilder, below: &Below) -> Result<u16, BoxError> {
    let policy = Policy::new(config.build().unwrap(), RetryErrors);
    let mut svc = policy.layer().layer(below.clone());
    svc.ready().await?.call("GET /").await
}

fn rejected(e: &BoxError) -> Option<&Rejected> {
    e.downcast_ref::<Rejected>()
}

#[tokio::test(start_paused = true)]
async fn a_permanent_refusal_is_not_retried() {
    let below = Below::new(&[bulkhead_never()]);
    let err = call(config(), &below).await.unwrap_err();
    assert_eq!(below.start_ms(), [0]);
    assert_eq!(rejected(&err).unwrap().reason(), Reason::BulkheadFull);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_wrapped_in_another_error_is_found() {
    let below = Below::new(&[Step::RefusedWrapped(Rejected::never(Reason::BulkheadFull))]);
    let err = call(config(), &below).await.unwrap_err();
    assert_eq!(below.start_ms(), [0]);
    assert!(err.to_string().contains("bulkhead full"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_is_retried_no_sooner_than_its_retry_after() {
    // The backoff says 100 ms; the circuit says 10 s.
    let below = Below::new(&[circuit_open(10 * SEC), Step::Up]);
    assert_eq!(call(config(), &below).await.unwrap(), 200);
    assert_eq!(below.start_ms(), [0, 10_000]);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_without_a_hint_is_retried_after_the_backoff() {
    // The control: `RetryAfter::Unknown` leaves the backoff as it is.
    let later = Step::Refused(Rejected::retry_later(Reason::RateLimited));
    let below = Below::new(&[later, Step::Up]);
    assert_eq!(call(config(), &below).await.unwrap(), 200);
    assert_eq!(below.start_ms(), [0, 100]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_ends_the_call_with_the_refusal() {
    let below = Below::new(&[circuit_open(10 * SEC), Step::Up]);
    let result = Deadline::after(5 * SEC).scope(call(config(), &below)).await;
    assert_eq!(
        below.start_ms(),
        [0],
        "no attempt at 10 s, past the deadline"
    );
    assert_eq!(
        rejected(&result.unwrap_err()).unwrap().reason(),
        Reason::CircuitOpen
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_total_time_limit_ends_the_call() {
    let below = Below::new(&[circuit_open(10 * SEC), Step::Up]);
    let result = call(config().max_total_time(5 * SEC), &below).await;
    assert_eq!(below.start_ms(), [0]);
    assert_eq!(
        rejected(&result.unwrap_err()).unwrap().reason(),
        Reason::CircuitOpen
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_refusal_after_a_real_failure_hands_back_the_real_failure() {
    let below = Below::new(&[Step::Down, bulkhead_never()]);
    let err = call(config(), &below).await.unwrap_err();
    assert_eq!(below.start_ms(), [0, 100]);
    assert!(rejected(&err).is_none(), "the real failure, not {err}");
    assert_eq!(err.to_string(), "down");
}

#[tokio::test(start_paused = true)]
async fn a_refusal_on_the_last_attempt_hands_back_the_latest_real_failure() {
    let later = Step::Refused(Rejected::retry_later(Reason::RateLimited));
    let below = Below::new(&[Step::Down, Step::Down, later]);
    let err = call(config().max_attempts(3), &below).await.unwrap_err();
    assert_eq!(below.start_ms(), [0, 100, 200]);
    assert_eq!(err.to_string(), "down");
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_whose_retry_after_is_past_the_deadline_hands_back_the_real_failure() {
    let below = Below::new(&[Step::Down, circuit_open(10 * SEC), Step::Up]);
    let result = Deadline::after(5 * SEC).scope(call(config(), &below)).await;
    assert_eq!(below.start_ms(), [0, 100]);
    assert_eq!(result.unwrap_err().to_string(), "down");
}

#[tokio::test(start_paused = true)]
async fn the_grpc_classifier_follows_the_same_rules() {
    // A classifier that calls every error UNAVAILABLE, refusals included.
    let policy = Policy::new(
        config().build().unwrap(),
        GrpcClassifier::new(|_: &BoxError| 14),
    );
    let below = Below::new(&[Step::Down, bulkhead_never()]);
    let mut svc = policy.layer().layer(below.clone());
    let err = svc.ready().await.unwrap().call("GET /").await.unwrap_err();
    assert_eq!(below.start_ms(), [0, 100]);
    assert_eq!(err.to_string(), "down");
}

#[tokio::test(start_paused = true)]
async fn the_helper_follows_the_same_rules() {
    let policy = Policy::new(config().build().unwrap(), RetryErrors);

    // The refusal itself as the error type.
    let mut made = 0;
    let result = retry(&policy, || {
        made += 1;
        async { Err::<u16, _>(Rejected::never(Reason::BulkheadFull)) }
    })
    .await;
    assert_eq!(made, 1);
    assert!(result.unwrap_err().into_inner().unwrap().is_permanent());

    // Behind a `BoxError`, after a real failure.
    let below = Below::new(&[Step::Down, bulkhead_never()]);
    let result = retry(&policy, || below.attempt()).await;
    assert_eq!(below.start_ms(), [0, 100]);
    assert_eq!(
        result.unwrap_err().into_inner().unwrap().to_string(),
        "down"
    );

    // An open circuit's retry-after.
    let below = Below::new(&[circuit_open(10 * SEC), Step::Up]);
    assert_eq!(retry(&policy, || below.attempt()).await.unwrap(), 200);
    assert_eq!(below.start_ms(), [0, 10_000]);
}

fn hedging() -> HedgePolicy {
    HedgePolicy::new(
        HedgeConfig::builder()
            .delay(HedgeDelay::Fixed(10 * MS))
            .max_hedges(2)
            .no_budget()
            .build()
            .unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_refused_backup_does_not_win_over_the_first_attempt() {
    // The first attempt answers at 100 ms; the backup, sent at 10 ms, is
    // refused at once, and no second backup follows it.
    let script = [
        (100 * MS, Step::Up),
        (Duration::ZERO, circuit_open(10 * SEC)),
    ];

    let policy = hedging();
    let below = Below::timed(&script);
    let mut svc = policy.layer().layer(below.clone());
    let answer = svc.ready().await.unwrap().call("GET /").await;
    assert_eq!(answer.unwrap(), 200);
    assert_eq!(below.start_ms(), [0, 10]);
    assert_eq!(policy.metrics().hedges_won, 0);

    let policy = hedging();
    let below = Below::timed(&script);
    assert_eq!(hedge(&policy, || below.attempt()).await.unwrap(), 200);
    assert_eq!(below.start_ms(), [0, 10]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_first_attempt_leaves_the_answer_to_the_backup_in_flight() {
    // The first attempt is refused at 50 ms, after both backups (sent at
    // 10 and 20 ms, answering at 90 and 100 ms) started.
    let script = [(50 * MS, bulkhead_never()), (80 * MS, Step::Up)];
    let policy = hedging();
    let below = Below::timed(&script);
    let mut svc = policy.layer().layer(below.clone());
    let started = Instant::now();
    let answer = svc.ready().await.unwrap().call("GET /").await;
    assert_eq!(answer.unwrap(), 200);
    assert_eq!(started.elapsed(), 90 * MS);
    assert_eq!(below.start_ms(), [0, 10, 20]);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_with_no_other_attempt_in_flight_ends_the_hedged_call() {
    // The control: refused before any backup was sent.
    let policy = hedging();
    let below = Below::new(&[bulkhead_never()]);
    let mut svc = policy.layer().layer(below.clone());
    let err = svc.ready().await.unwrap().call("GET /").await.unwrap_err();
    assert!(rejected(&err).unwrap().is_permanent());
    assert_eq!(below.start_ms(), [0]);
}

#[cfg(feature = "http")]
mod http_classifier {
    use super::*;
    use ballast_retry::AllErrors;
    use ballast_retry::grpc::GrpcHttpClassifier;
    use ballast_retry::http::HttpClassifier;
    use http::{Request, Response};

    #[tokio::test(start_paused = true)]
    async fn a_refusal_after_a_503_hands_back_the_503() {
        // Every error is retried, refusals included, as the classifier
        // sees them; the refusal's own rule still applies.
        let policy = Policy::new(
            config().build().unwrap(),
            HttpClassifier::new().retry_errors_if(AllErrors),
        );
        let below = Below::new(&[Step::Down, bulkhead_never()]);
        let server = tower::service_fn({
            let below = below.clone();
            let mut first = true;
            move |_: Request<()>| {
                let busy = std::mem::take(&mut first);
                let attempt = below.attempt();
                async move {
                    let outcome = attempt.await;
                    if busy {
                        return Ok(Response::builder().status(503).body(()).unwrap());
                    }
                    outcome.map(|_| Response::new(()))
                }
            }
        });
        let mut svc = policy.layer().idempotent_http().layer(server);
        let get = Request::get("/").body(()).unwrap();
        let response = svc.ready().await.unwrap().call(get).await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(below.start_ms(), [0, 100]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_after_a_grpc_unavailable_hands_back_the_unavailable() {
        let policy = Policy::new(
            config().build().unwrap(),
            GrpcHttpClassifier::new().retry_errors_if(AllErrors),
        );
        let below = Below::new(&[Step::Down, circuit_open(10 * SEC)]);
        let server = tower::service_fn({
            let below = below.clone();
            let mut first = true;
            move |_: Request<()>| {
                let unavailable = std::mem::take(&mut first);
                let attempt = below.attempt();
                async move {
                    let outcome = attempt.await;
                    if unavailable {
                        let r = Response::builder().header("grpc-status", "14");
                        return Ok(r.body(()).unwrap());
                    }
                    outcome.map(|_| Response::new(()))
                }
            }
        });
        let mut svc = policy.layer().layer(server);
        let call = Request::post("/orders.v1.Orders/Get")
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let started = Instant::now();
        let response = Deadline::after(SEC)
            .scope(async { svc.ready().await?.call(call).await })
            .await
            .unwrap();
        assert_eq!(response.headers()["grpc-status"], "14");
        assert_eq!(below.start_ms(), [0, 100]);
        assert_eq!(started.elapsed(), 100 * MS, "no wait for the open circuit");
    }
}

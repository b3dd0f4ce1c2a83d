//! Publishing one claimed batch: a key's messages one after another, in
//! their order, each only after the previous one was acknowledged; keys side
//! by side. Every publish goes through the retry policy (budget on) and the
//! circuit breaker.

use crate::store::{Claimed, Outcome};
use crate::{Envelope, PublishError, Publisher};
use ballast_circuit_breaker::{Breaker, Outcome as Counted};
use ballast_core::{CallError, Rejected};
use ballast_deadline::Deadline;
use ballast_retry::{Action, Policy, retry};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

use ballast_core::BoxError;
pub(crate) type Classify = fn(&Result<(), BoxError>) -> Action;

/// Retry outages and refusals by the breaker (retry's refusal rule then
/// waits out their retry-after, or stops); a broker's refusal of the
/// message is final for this batch.
pub(crate) fn classify(result: &Result<(), BoxError>) -> Action {
    match result {
        Ok(()) => Action::Return,
        Err(e) => match e.downcast_ref::<PublishError>() {
            Some(PublishError::Refused(_)) => Action::Return,
            _ => Action::Retry,
        },
    }
}

/// The breaker counts outages; a refused message means the broker is up.
fn counted(result: &Result<(), PublishError>) -> Counted {
    match result {
        Ok(()) | Err(PublishError::Refused(_)) => Counted::Success,
        Err(PublishError::Unavailable(_)) => Counted::Failure,
    }
}

pub(crate) struct Sender<P> {
    pub publisher: P,
    pub retry: Policy<Classify>,
    pub breaker: Breaker,
    pub timeout: Duration,
}

/// How far one key's run got.
#[derive(Default)]
struct Progress {
    acked: AtomicUsize,
    stopped: parking_lot::Mutex<Option<Sent>>,
}

/// What one key's run in a batch came to.
enum Sent {
    Acked,
    Refused(String),
    /// Not sent now; try again after the hint, if any.
    Later(Option<Duration>),
}

impl<P: Publisher> Sender<P> {
    /// Publishes `rows` (oldest first) and says what became of each, plus
    /// how long to wait before the next claim when the broker could not
    /// take messages (outage, open circuit, spent budget).
    pub async fn publish(&self, partition: u32, rows: Vec<Claimed>) -> (Outcome, Option<Duration>) {
        let mut runs: Vec<Vec<Envelope>> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for row in rows {
            let envelope = Envelope {
                id: row.id,
                topic: row.topic,
                key: row.key,
                seq: row.seq,
                partition,
                headers: serde_json::from_str(&row.headers).unwrap_or_default(),
                payload: row.payload.into(),
                attempts: row.attempts.max(0) as u32,
            };
            let i = *by_key.entry(envelope.key.clone()).or_insert_with(|| {
                runs.push(Vec::new());
                runs.len() - 1
            });
            runs[i].push(envelope);
        }
        // Each run reports its progress as it goes, so a batch cut off by
        // its time limit still records what the broker acknowledged; a
        // publish cut off mid-flight is not counted and goes out again
        // later with the same id.
        let progress: Vec<Progress> = runs.iter().map(|_| Progress::default()).collect();
        let limit = Instant::now() + self.timeout;
        let deadline = Deadline::at(limit);
        let all = futures::future::join_all(
            runs.iter()
                .zip(&progress)
                .map(|(run, p)| deadline.scope(self.publish_run(run, p))),
        );
        let timed_out = tokio::time::timeout_at(limit, all).await.is_err();
        let mut outcome = Outcome::default();
        let mut pause: Option<Duration> = None;
        for (run, p) in runs.iter().zip(progress) {
            let acked = p.acked.load(Ordering::Relaxed);
            outcome.acked.extend(run[..acked].iter().map(|e| e.id));
            match p.stopped.into_inner() {
                Some(Sent::Refused(why)) => outcome.refused.push((run[acked].id, why)),
                Some(Sent::Later(hint)) => {
                    let wait = hint.unwrap_or(Duration::from_millis(100));
                    pause = Some(pause.map_or(wait, |p| p.min(wait)));
                }
                Some(Sent::Acked) | None => {}
            }
        }
        if timed_out && pause.is_none() {
            pause = Some(Duration::from_millis(100));
        }
        (outcome, pause)
    }

    /// One key's messages in order; stops at the first not acknowledged.
    async fn publish_run(&self, run: &[Envelope], progress: &Progress) {
        for envelope in run {
            match self.send(envelope).await {
                // Relaxed: read after the batch's futures are done or
                // dropped, on the same task.
                Sent::Acked => progress.acked.fetch_add(1, Ordering::Relaxed),
                other => {
                    *progress.stopped.lock() = Some(other);
                    return;
                }
            };
        }
    }

    async fn send(&self, envelope: &Envelope) -> Sent {
        if Deadline::current().is_some_and(|d| d.is_expired()) {
            return Sent::Later(None);
        }
        let result = retry(&self.retry, || async {
            match self
                .breaker
                .call_classified(&counted, || self.publisher.publish(envelope))
                .await
            {
                Ok(()) => Ok(()),
                Err(CallError::Rejected(r)) => Err(Box::new(r) as BoxError),
                Err(CallError::Inner(e)) => Err(Box::new(e) as BoxError),
            }
        })
        .await;
        match result {
            Ok(()) => Sent::Acked,
            Err(CallError::Rejected(r)) => Sent::Later(r.retry_after_hint()),
            Err(CallError::Inner(e)) => {
                if let Some(r) = e.downcast_ref::<Rejected>() {
                    return Sent::Later(r.retry_after_hint());
                }
                match e.downcast::<PublishError>() {
                    Ok(refused) => match *refused {
                        PublishError::Refused(why) => Sent::Refused(why),
                        PublishError::Unavailable(e) => {
                            tracing::debug!(target: "ballast_outbox", error = %e, "broker unavailable");
                            Sent::Later(None)
                        }
                    },
                    Err(other) => {
                        tracing::debug!(target: "ballast_outbox", error = %other, "publish failed");
                        Sent::Later(None)
                    }
                }
            }
        }
    }
}

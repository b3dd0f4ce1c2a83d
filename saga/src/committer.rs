//! Group commit: one writer task per executor drains the appends that are
//! ready together (every saga task waiting on its own) and commits them in
//! one transaction, one fsync for all, the way databases commit. Each
//! waiter is answered only after that commit, so "written before the next
//! action begins" holds as with one append per transaction.
//!
//! Inside the group each entry runs under a savepoint of its own: a
//! fenced, gated or failing entry is rolled back alone and answered with
//! its own outcome, and the others commit. Saga rows are locked in id
//! order, then the outbox's key counters in key order, so two groups (of
//! two executors) cannot deadlock; on PostgreSQL the executor's lease
//! renewal and release lock its rows in id order too, so they cannot
//! deadlock with its groups either (every other write locks one saga row,
//! and claims skip locked rows). If the group fails as a whole (the
//! connection, a message the outbox refuses, the commit), each entry is
//! appended again alone: appends are idempotent by their number, so an
//! entry whose group did commit after all is not written twice.

use crate::Error;
use crate::store::{Append, Appended, Lease, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// One saga's append waiting for the writer.
struct Job {
    lease: Lease,
    entry: Append,
    answer: oneshot::Sender<Result<Appended, Error>>,
}

/// The sending side: saga tasks append through it.
#[derive(Clone)]
pub(crate) struct Committer {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Committer {
    /// Starts the writer task over `store` for `owner`, committing up to
    /// `max` entries per transaction (1: each alone).
    pub fn start(
        store: Arc<dyn Store>,
        owner: String,
        ttl: Duration,
        max: usize,
    ) -> (Committer, tokio::task::JoinHandle<()>) {
        let (jobs, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(write(store, owner, ttl, max.max(1), rx));
        (Committer { jobs }, task)
    }

    /// Appends `entry` with the next group; answers once it committed.
    pub async fn append(&self, lease: Lease, entry: Append) -> Result<Appended, Error> {
        let (answer, rx) = oneshot::channel();
        let job = Job {
            lease,
            entry,
            answer,
        };
        if self.jobs.send(job).is_err() {
            return Err(Error::Stopped);
        }
        rx.await.unwrap_or(Err(Error::Stopped))
    }
}

/// The writer: takes the first waiting append, then every other one ready
/// now (up to `max`), and commits them together.
async fn write(
    store: Arc<dyn Store>,
    owner: String,
    ttl: Duration,
    max: usize,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if jobs.len() > 1 {
            let batch: Vec<(Lease, Append)> =
                jobs.iter().map(|j| (j.lease, j.entry.clone())).collect();
            if let Some(results) = store.append_batch(&owner, ttl, &batch).await {
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.answer.send(result);
                }
                continue;
            }
            tracing::debug!(
                entries = jobs.len(),
                "saga log: group failed; appending each alone"
            );
        }
        for job in jobs {
            let result = store.append(job.lease, &owner, ttl, job.entry).await;
            let _ = job.answer.send(result);
        }
    }
}

//! The relay: publishes committed messages and takes them out of the hot
//! table, holding partitions through leases so several relay processes can
//! share one database without reordering a key.
//!
//! # Implementation notes
//!
//! - A supervisor task ticks every third of a lease: it records the relay
//!   as live, reads which partitions it holds, starts a worker per held
//!   partition, stops workers over its fair share (partitions / live
//!   relays, rounded up) and takes free or expired partitions under it,
//!   then renews the leases no batch has locked.
//! - A worker owns one partition's loop ([`worker`]): a batch is claimed,
//!   published and recorded before the next is claimed, so a key's
//!   messages go out one batch after another; within a batch a key's
//!   messages go one at a time, each after the previous was acknowledged.
//! - A worker asked to stop finishes its batch, then gives the lease back
//!   so another relay can start at once.
//! - A worker keeps its partition's read position in memory ([`cursor`]):
//!   claims start past what it already removed, a row is published only
//!   once its key's previous message left the outbox (or goes before it in
//!   the batch), and a read from the front runs at least every
//!   `rescan_interval`.

mod cursor;
mod send;
mod stats;
mod worker;

pub use stats::RelayStats;

use crate::config::{OnDeadLetter, Retention};
use crate::store::{Backend, CompleteSettings, Lease, Store, Wake};
use crate::{Outbox, Publisher, RelayConfig};
use ballast_circuit_breaker::Breaker;
use ballast_retry::{Backoff, BudgetConfig, Policy};
use send::Sender;
use stats::Counters;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use worker::Exit;

/// What the relay's tasks share.
pub(crate) struct Shared<DB: Backend, P> {
    outbox: Outbox<DB>,
    config: RelayConfig,
    settings: CompleteSettings,
    sender: Sender<P>,
    batches: Semaphore,
    counters: Counters,
    wakers: parking_lot::Mutex<HashMap<u32, Arc<Notify>>>,
}

/// Publishes an [`Outbox`]'s messages through a [`Publisher`]: start it
/// with [`Relay::start`], stop it with [`RelayHandle::shutdown`].
#[derive(Debug)]
pub struct Relay;

impl Relay {
    /// Starts a relay on the current tokio runtime. It joins the other
    /// relays of the database, takes its share of the partitions within
    /// about a lease, and publishes until shut down.
    pub fn start<DB: Backend, P: Publisher>(
        outbox: &Outbox<DB>,
        publisher: P,
        config: RelayConfig,
    ) -> RelayHandle {
        let retry_config = config.retry.clone().unwrap_or_else(default_retry);
        let sender = Sender {
            publisher,
            retry: Policy::new(retry_config, send::classify as send::Classify),
            breaker: Breaker::new(config.breaker.clone()),
            timeout: config.publish_timeout,
        };
        let settings = CompleteSettings {
            relay: config.relay_id.clone(),
            keep_published: matches!(config.retention, Retention::Keep(_)),
            max_attempts: config.max_attempts.min(i32::MAX as u32) as i32,
            hold_key: config.on_dead_letter == OnDeadLetter::HoldKey,
        };
        let shared = Arc::new(Shared {
            outbox: outbox.clone(),
            batches: Semaphore::new(config.max_concurrent_batches as usize),
            config,
            settings,
            sender,
            counters: Counters::default(),
            wakers: parking_lot::Mutex::new(HashMap::new()),
        });
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(supervise(Arc::clone(&shared), rx));
        let stats = Arc::clone(&shared) as Arc<dyn StatsSource>;
        RelayHandle {
            shutdown,
            task,
            stats,
        }
    }
}

fn default_retry() -> ballast_retry::Config {
    let backoff = Backoff::exponential(Duration::from_millis(10))
        .cap(Duration::from_secs(1))
        .build()
        .unwrap_or_default();
    ballast_retry::Config::builder()
        .max_attempts(3)
        .backoff(backoff)
        .budget(BudgetConfig::default())
        .build()
        .unwrap_or_default()
}

/// A running relay: read its stats, shut it down.
pub struct RelayHandle {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    stats: Arc<dyn StatsSource>,
}

impl std::fmt::Debug for RelayHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayHandle")
            .field("stats", &self.stats())
            .finish()
    }
}

impl RelayHandle {
    /// What the relay has done so far.
    pub fn stats(&self) -> RelayStats {
        self.stats.snapshot()
    }

    /// Stops gracefully: no new batches are claimed, the batches in flight
    /// finish (bounded by the publish timeout), and every lease is given
    /// back so another relay takes the partitions over at once.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Stops at once, as a crash would: tasks are aborted mid-batch and the
    /// leases are left to expire. For tests of recovery; use
    /// [`shutdown`](Self::shutdown) otherwise.
    pub fn abort(self) {
        self.task.abort();
    }
}

trait StatsSource: Send + Sync {
    fn snapshot(&self) -> RelayStats;
}

impl<DB: Backend, P: Publisher> StatsSource for Shared<DB, P> {
    fn snapshot(&self) -> RelayStats {
        let c = &self.counters;
        let retry = self.sender.retry.metrics();
        RelayStats {
            published: Counters::get(&c.published),
            refused: Counters::get(&c.refused),
            dead_lettered: Counters::get(&c.dead_lettered),
            not_sent: Counters::get(&c.not_sent),
            batches: Counters::get(&c.batches),
            retries: retry.retries,
            retry_budget_denied: retry.budget_denied,
            leases_acquired: Counters::get(&c.leases_acquired),
            leases_lost: Counters::get(&c.leases_lost),
            leases_released: Counters::get(&c.leases_released),
            partitions: Counters::get(&c.partitions),
            database_errors: Counters::get(&c.database_errors),
            breaker: self.sender.breaker.state(),
        }
    }
}

/// A worker the supervisor runs.
struct Running {
    lease: Lease,
    stop: watch::Sender<bool>,
    stopping: bool,
}

async fn supervise<DB: Backend, P: Publisher>(
    shared: Arc<Shared<DB, P>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let store = &shared.outbox.inner.store;
    let relay = shared.config.relay_id.clone();
    let ttl = shared.config.lease_ttl;
    let partitions = shared.outbox.inner.config.partitions;
    let mut tasks: JoinSet<(Lease, Exit)> = JoinSet::new();
    let mut running: HashMap<i32, Running> = HashMap::new();
    let waker = Arc::clone(&shared);
    let wake: Wake = Arc::new(move |partition| {
        let wakers = waker.wakers.lock();
        match partition {
            Some(p) => {
                if let Some(n) = wakers.get(&p) {
                    n.notify_one();
                }
            }
            None => wakers.values().for_each(|n| n.notify_one()),
        }
    });
    let listen = store.listen(wake);
    tokio::pin!(listen);
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok((lease, _exit)) = done
                    && running.get(&lease.partition).is_some_and(|r| r.lease == lease)
                {
                    running.remove(&lease.partition);
                    shared.wakers.lock().remove(&(lease.partition as u32));
                }
                continue;
            }
            _ = &mut listen => {}
            _ = shutdown.changed() => break,
        }
        ticks += 1;
        if let Err(e) = rebalance(&shared, &relay, ttl, partitions, &mut running, &mut tasks).await
        {
            Counters::add(&shared.counters.database_errors, 1);
            tracing::warn!(target: "ballast_outbox", relay, error = %e, "lease round failed; trying again next round");
        }
        if let Retention::Keep(age) = shared.config.retention
            && ticks.is_multiple_of(30)
            && let Err(e) = store.purge_published(age).await
        {
            tracing::warn!(target: "ballast_outbox", error = %e, "purging published rows failed");
        }
        shared
            .counters
            .partitions
            .store(running.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    // Graceful: stop every worker, let each finish its batch and release.
    for r in running.values() {
        let _ = r.stop.send(true);
    }
    let grace = shared.config.publish_timeout * 2 + Duration::from_secs(1);
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if let Err(e) = store.leave(&relay).await {
        tracing::warn!(target: "ballast_outbox", relay, error = %e, "leaving failed; leases will expire instead");
    }
    tracing::info!(target: "ballast_outbox", relay, "relay stopped");
}

/// One lease round (see the module notes).
async fn rebalance<DB: Backend, P: Publisher>(
    shared: &Arc<Shared<DB, P>>,
    relay: &str,
    ttl: Duration,
    partitions: u32,
    running: &mut HashMap<i32, Running>,
    tasks: &mut JoinSet<(Lease, Exit)>,
) -> Result<(), crate::Error> {
    let store = &shared.outbox.inner.store;
    let live = store.heartbeat(relay, ttl).await?;
    let held = store.held(relay).await?;
    // Workers whose lease is no longer ours (taken over) stop; their next
    // write would be fenced anyway.
    running.retain(|p, r| {
        let still = held.contains(&r.lease);
        if !still {
            let _ = r.stop.send(true);
            tracing::debug!(target: "ballast_outbox", partition = p, "lease no longer held");
        }
        still
    });
    for lease in &held {
        if !running.contains_key(&lease.partition) {
            spawn(shared, *lease, running, tasks);
        }
    }
    let share = partitions.div_ceil(live) as usize;
    let active: Vec<i32> = running
        .iter()
        .filter(|(_, r)| !r.stopping)
        .map(|(p, _)| *p)
        .collect();
    let holding = running.len();
    if holding > share {
        let mut extra = active;
        extra.sort_unstable_by(|a, b| b.cmp(a));
        let stopping = running.values().filter(|r| r.stopping).count();
        for p in extra
            .into_iter()
            .take((holding - share).saturating_sub(stopping))
        {
            if let Some(r) = running.get_mut(&p) {
                r.stopping = true;
                let _ = r.stop.send(true);
            }
        }
    } else if holding < share {
        let taken = store.acquire(relay, (share - holding) as u32, ttl).await?;
        for lease in taken {
            Counters::add(&shared.counters.leases_acquired, 1);
            tracing::info!(target: "ballast_outbox", partition = lease.partition, epoch = lease.epoch, relay, "lease acquired");
            spawn(shared, lease, running, tasks);
        }
    }
    store.renew(relay, ttl).await?;
    Ok(())
}

fn spawn<DB: Backend, P: Publisher>(
    shared: &Arc<Shared<DB, P>>,
    lease: Lease,
    running: &mut HashMap<i32, Running>,
    tasks: &mut JoinSet<(Lease, Exit)>,
) {
    let (stop, rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    shared
        .wakers
        .lock()
        .insert(lease.partition as u32, Arc::clone(&wake));
    tasks.spawn(worker::run(Arc::clone(shared), lease, wake, rx));
    running.insert(
        lease.partition,
        Running {
            lease,
            stop,
            stopping: false,
        },
    );
}

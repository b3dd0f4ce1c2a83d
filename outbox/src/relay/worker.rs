//! One partition's loop: claim a batch, publish it, record the outcome; wait
//! for a wake-up when the partition is empty. One worker per leased
//! partition, so a key's batches never overlap.

use super::Shared;
use super::stats::Counters;
use crate::Error;
use crate::Publisher;
use crate::store::{Backend, Lease, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Why a worker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Asked to stop; the lease was given back.
    Released,
    /// Another relay holds the lease now; nothing more was written.
    Fenced,
}

pub(crate) async fn run<DB: Backend, P: Publisher>(
    shared: Arc<Shared<DB, P>>,
    lease: Lease,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) -> (Lease, Exit) {
    let store = &shared.outbox.inner.store;
    let relay = &shared.config.relay_id;
    let mut backoff = Duration::from_millis(50);
    loop {
        if *stop.borrow() {
            break;
        }
        let permit = tokio::select! {
            permit = shared.batches.acquire() => match permit { Ok(p) => p, Err(_) => break },
            _ = stop.changed() => break,
        };
        let claimed = store
            .claim(
                relay,
                lease,
                shared.config.batch_size,
                shared.config.lease_ttl,
            )
            .await;
        let pause = match claimed {
            Err(Error::Fenced { .. }) => return fenced(&shared, lease),
            Err(e) => {
                Counters::add(&shared.counters.database_errors, 1);
                tracing::warn!(target: "ballast_outbox", partition = lease.partition, error = %e, "claim failed; backing off");
                backoff = (backoff * 2).min(Duration::from_secs(5));
                Some(backoff)
            }
            Ok(None) => {
                drop(permit);
                // Idle: wait for a wake-up or the poll, then look with a
                // plain read, so an idle partition costs no writes (a claim
                // renews the lease, a write); the supervisor renews idle
                // leases.
                loop {
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(shared.config.poll_interval) => {}
                        _ = stop.changed() => {}
                    }
                    if *stop.borrow() {
                        break;
                    }
                    match store.has_work(lease.partition).await {
                        Ok(false) => continue,
                        Ok(true) => break,
                        Err(e) => {
                            Counters::add(&shared.counters.database_errors, 1);
                            tracing::warn!(target: "ballast_outbox", partition = lease.partition, error = %e, "checking for work failed");
                            break;
                        }
                    }
                }
                continue;
            }
            Ok(Some((batch, rows))) => {
                Counters::add(&shared.counters.batches, 1);
                let total = rows.len() as u64;
                let (outcome, pause) = shared.sender.publish(lease.partition as u32, rows).await;
                let (acked, refused) = (outcome.acked.len() as u64, outcome.refused.len() as u64);
                match store
                    .complete(batch, lease, outcome, &shared.settings)
                    .await
                {
                    Ok(done) => {
                        backoff = Duration::from_millis(50);
                        Counters::add(&shared.counters.published, acked);
                        Counters::add(&shared.counters.refused, refused);
                        Counters::add(&shared.counters.not_sent, total - acked - refused);
                        Counters::add(
                            &shared.counters.dead_lettered,
                            done.dead_lettered.len() as u64,
                        );
                        for (id, key) in &done.dead_lettered {
                            tracing::warn!(target: "ballast_outbox", %id, key, "message dead-lettered after repeated broker refusals");
                        }
                        pause
                    }
                    Err(Error::Fenced { .. }) => return fenced(&shared, lease),
                    Err(e) => {
                        // Nothing recorded: the batch's rows stay and go
                        // out again (duplicates, same ids).
                        Counters::add(&shared.counters.database_errors, 1);
                        tracing::warn!(target: "ballast_outbox", partition = lease.partition, error = %e, "recording a batch failed; its messages will be published again");
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        Some(backoff)
                    }
                }
            }
        };
        drop(permit);
        if let Some(pause) = pause {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }
    match store.release(relay, lease).await {
        Ok(true) => {
            Counters::add(&shared.counters.leases_released, 1);
            tracing::info!(target: "ballast_outbox", partition = lease.partition, epoch = lease.epoch, relay, "lease released");
        }
        Ok(false) => return fenced(&shared, lease),
        Err(e) => {
            tracing::warn!(target: "ballast_outbox", partition = lease.partition, error = %e, "releasing a lease failed; it will expire instead");
        }
    }
    (lease, Exit::Released)
}

fn fenced<DB: Backend, P: Publisher>(shared: &Shared<DB, P>, lease: Lease) -> (Lease, Exit) {
    Counters::add(&shared.counters.leases_lost, 1);
    tracing::warn!(target: "ballast_outbox", partition = lease.partition, epoch = lease.epoch, relay = %shared.config.relay_id, "lease taken over by another relay; stopping this partition");
    (lease, Exit::Fenced)
}

//! One partition's loop: claim a batch, publish it, record the outcome; wait
//! for a wake-up when the partition is empty. One worker per leased
//! partition, so a key's batches never overlap.

use super::Shared;
use super::cursor::{self, Cursor};
use super::stats::Counters;
use crate::Error;
use crate::Publisher;
use crate::store::{Backend, Lease, Outcome, Removed, Store};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

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
    // A new lease reads from the front first.
    let mut cursor = Cursor::new(shared.config.rescan_interval, shared.config.lookback);
    // An idle partition is looked at again at least this often, so a row
    // behind the read position is found within a rescan.
    let idle_wait = shared
        .config
        .poll_interval
        .min(shared.config.rescan_interval);
    // Where the idle loop found work, the claim reads from there.
    let mut found_from: Option<Option<i64>> = None;
    // What this lease removed: spares the claim a lookup per row.
    let mut removed = Removed::default();
    loop {
        if *stop.borrow() {
            break;
        }
        let permit = tokio::select! {
            permit = shared.batches.acquire() => match permit { Ok(p) => p, Err(_) => break },
            _ = stop.changed() => break,
        };
        let from = match found_from.take() {
            Some(from) => from,
            None => floor(&shared, &mut cursor, lease).await,
        };
        let claimed = store
            .claim(
                relay,
                lease,
                shared.config.batch_size,
                shared.config.lease_ttl,
                from,
                &removed,
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
                        _ = tokio::time::sleep(idle_wait) => {}
                        _ = stop.changed() => {}
                    }
                    if *stop.borrow() {
                        break;
                    }
                    let from = floor(&shared, &mut cursor, lease).await;
                    match store.has_work(lease.partition, from).await {
                        Ok(false) => continue,
                        Ok(true) => {
                            // The claim reads where the work was found.
                            found_from = Some(from);
                            break;
                        }
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
                let claimed: Vec<i64> = rows.iter().map(|r| r.ts).collect();
                let (rows, held_back) = cursor::admit(rows);
                let stamps: Vec<(uuid::Uuid, i64)> = rows.iter().map(|r| (r.id, r.ts)).collect();
                let seqs: Vec<(String, i64)> =
                    rows.iter().map(|r| (r.key.clone(), r.seq)).collect();
                let total = rows.len() as u64;
                let (outcome, mut pause) = if rows.is_empty() {
                    (Outcome::default(), None)
                } else {
                    shared.sender.publish(lease.partition as u32, rows).await
                };
                let (acked, refused) = (outcome.acked.len() as u64, outcome.refused.len() as u64);
                let gone: HashSet<uuid::Uuid> = outcome.acked.iter().copied().collect();
                let left: Vec<i64> = stamps
                    .iter()
                    .filter(|(id, _)| !gone.contains(id))
                    .map(|&(_, ts)| ts)
                    .collect();
                let published: Vec<(String, i64)> = stamps
                    .iter()
                    .zip(seqs)
                    .filter(|((id, _), _)| gone.contains(id))
                    .map(|(_, seq)| seq)
                    .collect();
                if total == 0 && from.is_none() {
                    // Everything this claim from the front met waits behind
                    // a message it could not claim (locked elsewhere): give
                    // it a moment rather than spin.
                    pause = Some(shared.config.poll_interval);
                }
                match store
                    .complete(batch, lease, outcome, &shared.settings)
                    .await
                {
                    Ok(done) => {
                        cursor.advance(&claimed, &left, held_back > 0);
                        for (key, seq) in &published {
                            removed.record(key, *seq);
                        }
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
                        cursor.reset();
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

/// The next read's floor; before a rescan, measures the store's horizon
/// (an error there only sends that rescan's successor to the front).
async fn floor<DB: Backend, P: Publisher>(
    shared: &Shared<DB, P>,
    cursor: &mut Cursor,
    lease: Lease,
) -> Option<i64> {
    let now = Instant::now();
    let measured = if cursor.rescan_due(now) {
        match shared.outbox.inner.store.horizon().await {
            Ok(horizon) => horizon,
            Err(e) => {
                Counters::add(&shared.counters.database_errors, 1);
                tracing::warn!(target: "ballast_outbox", partition = lease.partition, error = %e, "measuring the horizon failed; the next rescan reads from the front");
                None
            }
        }
    } else {
        None
    };
    cursor.floor(now, measured)
}

fn fenced<DB: Backend, P: Publisher>(shared: &Shared<DB, P>, lease: Lease) -> (Lease, Exit) {
    Counters::add(&shared.counters.leases_lost, 1);
    tracing::warn!(target: "ballast_outbox", partition = lease.partition, epoch = lease.epoch, relay = %shared.config.relay_id, "lease taken over by another relay; stopping this partition");
    (lease, Exit::Fenced)
}

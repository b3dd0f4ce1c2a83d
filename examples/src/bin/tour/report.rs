//! The final report: what happened in each phase, and the checks, each
//! computed from the real records: the saga and outbox tables, the
//! consumer's inbox and its own table, and the dependencies' records.

use crate::clients::DEADLINE_TOLERANCE;
use crate::events::{Broker, HANDLED_TABLE, INBOX_TABLE, OUTBOX_TABLE};
use crate::sampler::Sample;
use crate::scenario::Phase;
use crate::world::World;
use ballast::prelude::BoxError;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// One check and whether it held.
pub struct Check {
    pub what: String,
    pub held: bool,
}

/// What happened in one phase.
pub struct PhaseRow {
    pub name: &'static str,
    /// Storefront answers in the phase: 202, 429, 503, other.
    pub answers: [u64; 4],
    /// Sagas started in the phase, by how they ended: completed,
    /// compensated, anything else.
    pub sagas: [u64; 3],
    /// Storefront p99 latency over the phase's ticks (the worst tick).
    pub worst_p99: f64,
}

/// The report's facts and checks.
pub struct Report {
    pub phases: Vec<PhaseRow>,
    pub facts: Vec<String>,
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check held.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.held)
    }

    /// The report as text lines.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{:<15} {:>6} {:>6} {:>6} {:>6} {:>9} {:>10} {:>12}",
            "phase", "202", "429", "503", "other", "p99 ms", "completed", "compensated"
        )];
        for p in &self.phases {
            out.push(format!(
                "{:<15} {:>6} {:>6} {:>6} {:>6} {:>9.0} {:>10} {:>12}",
                p.name,
                p.answers[0],
                p.answers[1],
                p.answers[2],
                p.answers[3],
                p.worst_p99,
                p.sagas[0],
                p.sagas[1]
            ));
        }
        out.push(String::new());
        out.extend(self.facts.iter().cloned());
        out.push(String::new());
        for c in &self.checks {
            out.push(format!(
                "  [{}] {}",
                if c.held { "ok" } else { "FAILED" },
                c.what
            ));
        }
        out
    }
}

/// Builds the report once the drain is over. `start_ms` is when the load
/// started (Unix milliseconds), `starts` when each phase began and the
/// drain (seconds since then), `timeline` the samples taken.
pub async fn build(
    world: &World,
    phases: &[Phase],
    starts: &[f64],
    start_ms: i64,
    timeline: &[Sample],
) -> Result<Report, BoxError> {
    let store = &world.store;
    let d = &world.deps;
    let mut checks = Vec::new();
    let mut facts = Vec::new();

    // The sagas, as their table says, with when each started.
    let rows = store.sagas().await?;
    let sagas: HashMap<String, (String, i64)> = rows
        .into_iter()
        .map(|(id, status, at)| {
            let id = uuid::Uuid::from_slice(&id)
                .map(|u| u.to_string())
                .unwrap_or_default();
            (id, (status, at))
        })
        .collect();

    // Per phase: answers from the samples, sagas by their start time.
    let mut rows = Vec::new();
    let at_ms = |i: usize| starts.get(i).map(|s| start_ms + (s * 1000.0) as i64);
    let mut prev = [0u64; 4];
    for (i, p) in phases.iter().enumerate() {
        let begin_ms = at_ms(i).unwrap_or(i64::MAX);
        let end_ms = at_ms(i + 1).unwrap_or(i64::MAX);
        let last = timeline.iter().rev().find(|s| s.phase == i);
        let now = last.map(|s| s.answers).unwrap_or(prev);
        let answers = [0, 1, 2, 3].map(|k| now[k].saturating_sub(prev[k]));
        prev = now;
        let mut by = [0u64; 3];
        for (status, at) in sagas.values() {
            // Orders placed during the load, whose saga started before the
            // first phase or in the drain, count in the first or last.
            let begin_ms = if i == 0 { i64::MIN } else { begin_ms };
            let end_ms = if i + 1 == phases.len() {
                i64::MAX
            } else {
                end_ms
            };
            let in_phase = *at >= begin_ms && *at < end_ms;
            if in_phase {
                by[match status.as_str() {
                    "completed" => 0,
                    "compensated" => 1,
                    _ => 2,
                }] += 1;
            }
        }
        let worst_p99 = timeline
            .iter()
            .filter(|s| s.phase == i)
            .map(|s| s.p99)
            .fold(0.0, f64::max);
        rows.push(PhaseRow {
            name: p.name,
            answers,
            sagas: by,
            worst_p99,
        });
    }

    // 1. No order lost.
    let accepted = world.load.seen.accepted.lock().unwrap().clone();
    let missing = accepted
        .iter()
        .filter(|id| !sagas.contains_key(*id))
        .count();
    let unfinished = sagas
        .values()
        .filter(|(s, _)| s != "completed" && s != "compensated")
        .count();
    let completed = sagas.values().filter(|(s, _)| s == "completed").count();
    let compensated = sagas.values().filter(|(s, _)| s == "compensated").count();
    facts.push(format!(
        "orders: {} accepted; {} sagas in the log: {completed} completed, {compensated} compensated, {unfinished} unfinished",
        accepted.len(),
        sagas.len()
    ));
    checks.push(Check {
        what: format!(
            "no order lost: each of the {} accepted orders has its saga, and every saga ended (completed or compensated)",
            accepted.len()
        ),
        held: !accepted.is_empty() && missing == 0 && unfinished == 0,
    });

    // 2. Paid orders shipped; the others released their stock.
    let (mut paid, mut paid_ok, mut unpaid, mut unpaid_ok) = (0, 0, 0, 0);
    for (id, (status, _)) in &sagas {
        let key = |step: &str| format!("{id}/{step}");
        let reserved = d.inventory.applied(&key("reserve"));
        let released = d.inventory.applied(&key("reserve/compensate"));
        let shipped = d.shipping.applied(&key("ship"));
        if d.payments.applied(&key("charge")) {
            paid += 1;
            if shipped && reserved && !released && status == "completed" {
                paid_ok += 1;
            }
        } else {
            unpaid += 1;
            if !shipped && (!reserved || released) && status == "compensated" {
                unpaid_ok += 1;
            }
        }
    }
    facts.push(format!(
        "dependencies' records: {} reservations, {} releases, {} charges ({} cards declined), {} shipments; requests received: {}",
        d.inventory.applied_like("/reserve"),
        d.inventory.applied_like("/reserve/compensate"),
        d.payments.effects(),
        d.payments.declined(),
        d.shipping.effects(),
        // Relaxed: a statistic.
        d.all()
            .map(|x| format!("{} {}", x.name, x.received.load(Ordering::Relaxed)))
            .join(", "),
    ));
    checks.push(Check {
        what: format!("every paid order was shipped and kept its stock ({paid_ok} of {paid})"),
        held: paid_ok == paid,
    });
    checks.push(Check {
        what: format!(
            "every other order released its stock, or never held any, and was not shipped ({unpaid_ok} of {unpaid})"
        ),
        held: unpaid_ok == unpaid,
    });
    let twice: usize = d.all().iter().map(|x| x.applied_twice()).sum();
    checks.push(Check {
        what: "each dependency applied each idempotency key's effect at most once".into(),
        held: twice == 0,
    });

    // 3. Every event handled exactly once.
    let sent = store
        .count("SELECT count(*) FROM tour_log WHERE kind IN ('step_succeeded', 'compensated')")
        .await?;
    let published = store
        .count(&format!(
            "SELECT count(DISTINCT id) FROM {OUTBOX_TABLE}_published"
        ))
        .await?;
    let inbox = store
        .count(&format!("SELECT count(*) FROM {INBOX_TABLE}"))
        .await?;
    let handled = store
        .count(&format!("SELECT count(*) FROM {HANDLED_TABLE}"))
        .await?;
    let handled_ids = store
        .count(&format!("SELECT count(DISTINCT id) FROM {HANDLED_TABLE}"))
        .await?;
    let backlog = world.store.backlog().await?;
    // Relaxed: the consumer's counters; every task writing them has
    // finished its work before the drain ended.
    let duplicates = world.consumed.duplicates.load(Ordering::Relaxed);
    facts.push(format!(
        "events: {sent} sent by saga steps (one per logged step success or compensation), {published} published, {inbox} in the inbox, {handled} handlings of {handled_ids} ids; {duplicates} duplicate deliveries absorbed by the inbox; backlog {}, dead letters {}",
        backlog.messages, backlog.dead_letters
    ));
    // On JetStream, the copies the stream's dedupe window dropped, before
    // any reached the inbox; the stream must hold one message per event.
    let (mut absorbed, mut stream_ok) = (format!("{duplicates} duplicates absorbed"), true);
    if let Broker::JetStream(nats) = &world.broker {
        let (dropped, stored) = nats.deduplicated().await?;
        facts.push(format!(
            "JetStream: stream {} stores {stored} messages; {dropped} copies published again were dropped by its dedupe window (same Nats-Msg-Id)",
            nats.stream
        ));
        absorbed = format!("{duplicates} duplicates absorbed by the inbox, {dropped} by JetStream");
        stream_ok = stored == sent;
    }
    checks.push(Check {
        what: format!("every event was handled exactly once ({handled} of {sent}; {absorbed})"),
        held: stream_ok
            && sent > 0
            && published == sent
            && inbox == sent
            && handled == sent
            && handled_ids == sent
            && backlog.messages == 0
            && backlog.dead_letters == 0,
    });

    // 4. Deadlines.
    // Relaxed: statistics of calls that have all ended.
    let mut calls = 0;
    let mut worst = 0;
    let mut over = 0;
    for c in world.clients.all() {
        calls += c.deadlines.calls.load(Ordering::Relaxed);
        worst = worst.max(c.deadlines.worst_overrun_us.load(Ordering::Relaxed));
        over += c.deadlines.over_tolerance.load(Ordering::Relaxed);
    }
    checks.push(Check {
        what: format!(
            "no call outlived its deadline by more than {} ms ({calls} calls; worst {:.1} ms past)",
            DEADLINE_TOLERANCE.as_millis(),
            worst as f64 / 1000.0
        ),
        held: calls > 0 && over == 0,
    });
    Ok(Report {
        phases: rows,
        facts,
        checks,
    })
}

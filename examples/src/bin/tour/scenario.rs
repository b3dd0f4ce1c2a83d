//! The script: what fails when. Each phase sets the dependencies' knobs
//! (or crashes the executor and the relay) as it begins, then lets the
//! load run for its time.

use crate::display::Display;
use crate::world::World;
use ballast::prelude::BoxError;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One phase of the scenario.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    /// A short name, for the display and the report.
    pub name: &'static str,
    /// What happens in it.
    pub what: &'static str,
    /// How long it runs.
    pub secs: f64,
}

/// The phases, shorter with `quick`; the drain comes after them.
pub fn phases(quick: bool) -> Vec<Phase> {
    let s = |quick_secs: f64, full_secs: f64| if quick { quick_secs } else { full_secs };
    vec![
        Phase {
            name: "calm",
            what: "every dependency healthy",
            secs: s(4.0, 10.0),
        },
        Phase {
            name: "payments slow",
            what: "payments answer in 250-850 ms; a low-priority batch client surges",
            secs: s(5.0, 14.0),
        },
        Phase {
            name: "inventory down",
            what: "inventory answers 503 to everything",
            secs: s(5.0, 12.0),
        },
        Phase {
            name: "crash",
            what: "saga executor and outbox relay aborted, restarted 1.5 s later",
            secs: s(5.0, 12.0),
        },
        Phase {
            name: "recovered",
            what: "every dependency healthy again",
            secs: s(3.0, 10.0),
        },
    ]
}

/// The name of phase `i`, the drain after the last.
pub fn name(phases: &[Phase], i: usize) -> &'static str {
    phases.get(i).map(|p| p.name).unwrap_or("drain")
}

/// Runs the phases against `world`; returns when the last one ends.
pub async fn run(
    world: &World,
    phases: &[Phase],
    display: &Display,
    since: Instant,
) -> Result<(), BoxError> {
    let d = &world.deps;
    for (i, phase) in phases.iter().enumerate() {
        let ends = Instant::now() + Duration::from_secs_f64(phase.secs);
        world.enter(i, since);
        display.event(format!("phase {}: {} ({})", i + 1, phase.name, phase.what));
        match phase.name {
            "payments slow" => {
                d.payments.set_delay(250, 600);
                // Relaxed: a switch the senders read once per tick.
                world.load.surge.store(true, Ordering::Relaxed);
            }
            "inventory down" => {
                d.payments.set_delay(10, 20);
                world.load.surge.store(false, Ordering::Relaxed);
                d.inventory.set_down(true);
            }
            "crash" => {
                d.inventory.set_down(false);
                world.crash();
                display.event("  executor-1 and relay-1 aborted (leases left to expire)".into());
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let n = world.restart().await?;
                display.event(format!(
                    "  executor-{n} and relay-{n} started; they take over once the leases expire"
                ));
            }
            _ => {}
        }
        tokio::time::sleep_until(ends.into()).await;
    }
    Ok(())
}

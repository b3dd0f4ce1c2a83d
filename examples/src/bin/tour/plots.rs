//! The tour's HTML report: its timeline as charts (latency percentiles,
//! each dependency's adaptive limit, breaker states, the outbox backlog,
//! sagas ended), above the text report.

use crate::html::{Chart, PALETTE, Series, page};
use crate::report::Report;
use crate::sampler::Sample;
use crate::scenario::Phase;

const DEPS: [&str; 3] = ["inventory", "payments", "shipping"];

fn series(name: &str, i: usize, timeline: &[Sample], f: impl Fn(&Sample) -> f64) -> Series {
    Series {
        name: name.into(),
        color: PALETTE[i % PALETTE.len()],
        points: timeline.iter().map(|s| (s.t, f(s))).collect(),
    }
}

fn per_dep(title: &str, y: &str, timeline: &[Sample], f: impl Fn(&Sample, usize) -> f64) -> Chart {
    Chart {
        title: title.into(),
        y_label: y.into(),
        series: DEPS
            .iter()
            .enumerate()
            .map(|(i, name)| series(name, i, timeline, |s| f(s, i)))
            .collect(),
    }
}

/// The page for a run.
/// `starts` holds when each phase began, and the drain, in seconds.
pub fn report(phases: &[Phase], starts: &[f64], timeline: &[Sample], report: &Report) -> String {
    let marks: Vec<(f64, String)> = starts
        .iter()
        .enumerate()
        .map(|(i, &at)| (at, crate::scenario::name(phases, i).to_string()))
        .collect();
    let charts = vec![
        Chart {
            title: "storefront latency".into(),
            y_label: "ms".into(),
            series: vec![
                series("p50", 0, timeline, |s| s.p50),
                series("p95", 1, timeline, |s| s.p95),
                series("p99", 2, timeline, |s| s.p99),
            ],
        },
        per_dep("dependency p99 latency", "ms", timeline, |s, i| {
            s.deps[i].p99
        }),
        per_dep("adaptive concurrency limit", "calls", timeline, |s, i| {
            f64::from(s.deps[i].limit)
        }),
        per_dep(
            "circuit breakers (0 closed, 1 half-open, 2 open)",
            "state",
            timeline,
            |s, i| match s.deps[i].breaker {
                "open" => 2.0,
                "half-open" | "recovering" => 1.0,
                _ => 0.0,
            },
        ),
        Chart {
            title: "outbox backlog and sagas in flight".into(),
            y_label: "count".into(),
            series: vec![
                series("outbox backlog", 0, timeline, |s| s.backlog as f64),
                series("sagas running", 1, timeline, |s| s.active as f64),
            ],
        },
        Chart {
            title: "sagas ended".into(),
            y_label: "sagas".into(),
            series: vec![
                series("completed", 2, timeline, |s| s.completed as f64),
                series("compensated", 1, timeline, |s| s.compensated as f64),
            ],
        },
    ];
    page("ballast tour", &report.lines(), &charts, &marks)
}

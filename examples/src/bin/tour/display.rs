//! The live display: on a terminal, a progress bar and a compact table
//! redrawn in place every tick; otherwise plain lines, one a second.
//! Scenario events are printed above it as they happen.

use crate::sampler::Sample;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// Draws the tour as it runs.
pub struct Display {
    tty: bool,
    /// Lines of the last frame, to move back over (terminal only).
    drawn: Mutex<usize>,
    /// Events not yet printed.
    events: Mutex<Vec<String>>,
    /// Ticks seen, for one plain line a second.
    ticks: Mutex<u64>,
}

impl Display {
    /// A display for stdout, live only if it is a terminal.
    pub fn new() -> Self {
        Display {
            tty: std::io::stdout().is_terminal(),
            drawn: Mutex::new(0),
            events: Mutex::default(),
            ticks: Mutex::new(0),
        }
    }

    /// Prints `line` above the live part (at once when not a terminal).
    pub fn event(&self, line: String) {
        if self.tty {
            self.events.lock().unwrap().push(line);
        } else {
            println!("{line}");
        }
    }

    /// Draws `s`: `total` seconds of load planned, `phase` its name.
    pub fn frame(&self, s: &Sample, total: f64, phase: &str) {
        let mut out = std::io::stdout().lock();
        if !self.tty {
            let mut ticks = self.ticks.lock().unwrap();
            *ticks += 1;
            if *ticks % 4 == 0 {
                let _ = writeln!(out, "{}", plain(s, phase));
            }
            return;
        }
        let mut drawn = self.drawn.lock().unwrap();
        if *drawn > 0 {
            // Up to the frame's first line, and clear to the end.
            let _ = write!(out, "\x1b[{}A\x1b[J", *drawn);
        }
        for e in self.events.lock().unwrap().drain(..) {
            let _ = writeln!(out, "{e}");
        }
        let lines = table(s, total, phase);
        for l in &lines {
            let _ = writeln!(out, "{l}");
        }
        *drawn = lines.len();
        let _ = out.flush();
    }

    /// Prints what is left and stops redrawing over it.
    pub fn finish(&self) {
        for e in self.events.lock().unwrap().drain(..) {
            println!("{e}");
        }
        *self.drawn.lock().unwrap() = 0;
    }
}

/// One plain line.
fn plain(s: &Sample, phase: &str) -> String {
    let d = &s.deps;
    format!(
        "[{:5.1}s] {phase:<14} {:4.0} req/s p99 {:4.0} ms | breakers {}/{}/{} | limits {}/{}/{} | sagas {} done {} undone {} running | backlog {}",
        s.t,
        s.rps,
        s.p99,
        d[0].breaker,
        d[1].breaker,
        d[2].breaker,
        d[0].limit,
        d[1].limit,
        d[2].limit,
        s.completed,
        s.compensated,
        s.active,
        s.backlog
    )
}

/// The live table.
fn table(s: &Sample, total: f64, phase: &str) -> Vec<String> {
    let width = 30usize;
    let done = ((s.t / total).min(1.0) * width as f64) as usize;
    let planned = if s.t > total {
        format!("{total:.0} s + drain")
    } else {
        format!("{total:.0} s")
    };
    let [ok, r429, r503, other] = s.answers;
    let mut lines = vec![
        format!(
            "[{}{}] {:5.1} s of {planned}  {phase}",
            "#".repeat(done),
            ".".repeat(width - done),
            s.t,
        ),
        format!(
            "storefront {:4.0} req/s  p50 {:5.1} p95 {:5.1} p99 {:5.1} ms  202:{ok} 429:{r429} 503:{r503} other:{other} shed:{}",
            s.rps, s.p50, s.p95, s.p99, s.shed
        ),
        format!(
            "{:<10} {:>7} {:>7}  {:<10} {:>9} {:>8} {:>7} {:>7}",
            "dependency", "p50 ms", "p99 ms", "breaker", "limit", "retries", "budget", "failed"
        ),
    ];
    for (name, d) in ["inventory", "payments", "shipping"].iter().zip(&s.deps) {
        lines.push(format!(
            "{:<10} {:>7.1} {:>7.1}  {:<10} {:>4}/{:<4} {:>8} {:>7} {:>7}",
            name, d.p50, d.p99, d.breaker, d.in_flight, d.limit, d.retries, d.budget_left, d.failed
        ));
    }
    lines.push(format!(
        "sagas: {} completed, {} compensated, {} running; outbox backlog {}; events handled {} ({} duplicates absorbed)",
        s.completed, s.compensated, s.active, s.backlog, s.handled, s.duplicates
    ));
    lines
}

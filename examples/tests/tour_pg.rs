//! The tour runs on PostgreSQL and NATS JetStream: the built `tour` binary,
//! in its short mode with `--pg` and `--nats`, exits 0 and its report says
//! every check held, and what it made (a schema, a stream) is gone after.
//!
//! Needs `BALLAST_PG_URL` and `BALLAST_NATS_URL` (`eval "$(scripts/services)"`);
//! skips with a printed reason where they are unset, unless
//! `BALLAST_REQUIRE_SERVICES` is set (CI), where that is a failure.

use std::process::Command;
use std::time::{Duration, Instant};

fn services() -> Option<(String, String)> {
    match (
        std::env::var("BALLAST_PG_URL"),
        std::env::var("BALLAST_NATS_URL"),
    ) {
        (Ok(pg), Ok(nats)) => Some((pg, nats)),
        _ if std::env::var_os("BALLAST_REQUIRE_SERVICES").is_some() => {
            panic!(
                "BALLAST_PG_URL and BALLAST_NATS_URL must be set when BALLAST_REQUIRE_SERVICES is"
            )
        }
        _ => {
            println!(
                "skipped: BALLAST_PG_URL or BALLAST_NATS_URL unset (eval \"$(scripts/services)\")"
            );
            None
        }
    }
}

#[test]
fn quick_tour_on_postgres_and_jetstream_holds_every_check_and_cleans_up() {
    let Some((pg, nats)) = services() else { return };
    let dir = tempfile::tempdir().expect("a temp dir");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_tour"))
        .args(["--quick", "--pg", &pg, "--nats", &nats, "--html"])
        .arg(dir.path().join("tour.html"))
        .output()
        .expect("the tour runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said = format!(
        "{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "the tour failed:\n{said}");
    assert!(
        stdout.lines().any(|l| l == "every check holds"),
        "no 'every check holds' line:\n{said}"
    );
    assert!(!stdout.contains("[FAILED]"), "a check failed:\n{said}");
    assert!(
        stdout.contains("store: PostgreSQL") && stdout.contains("NATS JetStream"),
        "not run on PostgreSQL and JetStream:\n{said}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("dropped schema tour_"))
            && stdout
                .lines()
                .any(|l| l.starts_with("deleted stream TOUR_")),
        "the run's schema and stream were not removed:\n{said}"
    );
    // Generous: the quick scenario is 22 s plus a drain of at most 30 s.
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "the quick tour took {:?}",
        started.elapsed()
    );
}

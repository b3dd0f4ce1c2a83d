//! The tour: one command that shows the ballast family working together.
//!
//! A storefront (an axum API on loopback) places orders by calling three
//! dependencies over real HTTP: inventory, payments and shipping. Each
//! call goes through a client stack built with the `ballast` facade
//! (deadline, retry with a budget, circuit breaker, adaptive concurrency
//! limit, the deadline sent along); the API's own side limits each client's
//! rate and sheds load. Each order is a ballast-saga saga (reserve stock,
//! charge payment as the pivot, book shipping) whose steps send events
//! through the outbox; a relay publishes them to a consumer with an inbox.
//! SQLite in a temporary directory holds it all, or, with `--pg` and
//! `--nats`, a schema of the run's own in PostgreSQL, the events going
//! through a stream of its own in NATS JetStream (both removed at the end).
//!
//! A load generator places orders while a script makes payments slow,
//! takes inventory down, and crashes the saga executor and the relay
//! (their tasks aborted) before starting new ones. After a drain, the
//! report checks that no order was lost, that paid orders were shipped
//! and the others released their stock, that every event was handled
//! exactly once, and that no call outlived its deadline; it exits 1 if a
//! check fails. An HTML report with plots is written too.
//!
//! ```sh
//! cargo run -p ballast-examples --bin tour              # about a minute
//! cargo run -p ballast-examples --bin tour -- --quick   # under 60 s, in CI
//! cargo run -p ballast-examples --bin tour -- --html /tmp/tour.html
//! cargo run -p ballast-examples --bin tour -- --pg postgres://postgres@127.0.0.1/test --nats nats://127.0.0.1:4222
//! ```

mod clients;
mod dependencies;
mod display;
mod events;
mod html;
mod jetstream;
mod load;
mod orders;
mod plots;
mod report;
mod sampler;
mod scenario;
mod stats;
mod store;
mod storefront;
mod world;

use ballast::prelude::BoxError;
use ballast_outbox::ChannelPublisher;
use display::Display;
use events::Broker;
use jetstream::Nats;
use sampler::{Sample, TICK};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use store::Store;
use world::World;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let given = |name: &str| args.iter().any(|a| a == name);
    let services = match (flag("--pg"), flag("--nats")) {
        (Some(pg), Some(nats)) => Some((pg, nats)),
        (None, None) if !given("--pg") && !given("--nats") => None,
        _ => {
            eprintln!(
                "--pg URL and --nats URL go together: the tour runs on PostgreSQL and NATS JetStream, or on SQLite and an in-process channel with neither"
            );
            std::process::exit(2);
        }
    };
    let html_path = flag("--html")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("ballast-tour.html"));
    let ok = run(quick, &html_path, services).await?;
    std::process::exit(if ok { 0 } else { 1 });
}

/// Opens the store and the broker, runs the tour on them, and removes
/// what the run made in PostgreSQL and NATS, whatever the outcome.
async fn run(
    quick: bool,
    html_path: &std::path::Path,
    services: Option<(String, String)>,
) -> Result<bool, BoxError> {
    let dir = tempfile::tempdir()?;
    let (store, broker, received, about) = match &services {
        None => {
            let db = dir.path().join("tour.db");
            let (publisher, received) = ChannelPublisher::new(1024);
            let store = Store::sqlite(&db).await?;
            let about = format!("store: SQLite at {}", db.display());
            (store, Broker::Channel(publisher), Some(received), about)
        }
        Some((pg, nats)) => {
            // The run's own names: a random tail of a v7 uuid.
            let suffix = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
            let store = Store::postgres(pg, &format!("tour_{suffix}")).await?;
            let nats = match Nats::start(nats, &suffix).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = store.drop_all().await;
                    return Err(e);
                }
            };
            let about = format!(
                "store: PostgreSQL at {}, schema tour_{suffix}; events: NATS JetStream at {}, stream {}",
                without_password(pg),
                without_password(services.as_ref().map_or("", |s| &s.1)),
                nats.stream
            );
            (store, Broker::JetStream(Box::new(nats)), None, about)
        }
    };
    let store = Arc::new(store);
    let ok = tour(
        quick,
        html_path,
        store.clone(),
        broker.clone(),
        received,
        &about,
    )
    .await;
    if let Some(schema) = store.schema() {
        match store.drop_all().await {
            Ok(()) => println!("dropped schema {schema}"),
            Err(e) => eprintln!("could not drop schema {schema}: {e}"),
        }
    }
    if let Broker::JetStream(nats) = &broker {
        match nats.delete().await {
            Ok(()) => println!("deleted stream {}", nats.stream),
            Err(e) => eprintln!("could not delete stream {}: {e}", nats.stream),
        }
    }
    ok
}

/// `url` without the password, if it has one, to print.
fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if url[s + 3..at].contains(':') => {
            let user = &url[s + 3..at].split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The tour itself: the load, the scenario, the drain and the report.
async fn tour(
    quick: bool,
    html_path: &std::path::Path,
    store: Arc<Store>,
    broker: Broker,
    received: Option<ballast_outbox::publish::Receiver>,
    about: &str,
) -> Result<bool, BoxError> {
    let per_client = if quick { 5 } else { 6 };
    let world = Arc::new(World::start(store, broker, received, per_client).await?);
    let phases = scenario::phases(quick);
    let total: f64 = phases.iter().map(|p| p.secs).sum();
    println!(
        "ballast tour: a storefront on {} calling inventory, payments and shipping over loopback HTTP",
        world.storefront
    );
    println!("{about}");
    println!(
        "load: 5 clients at {per_client} orders/s each (one greedy, at 3x), a batch client in the surge; {total:.0} s of scenario, then a drain\n"
    );

    let display = Arc::new(Display::new());
    let timeline: sampler::Timeline = Arc::default();
    let since = Instant::now();
    let start_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (world, display, timeline, sampling) = (
            world.clone(),
            display.clone(),
            timeline.clone(),
            sampling.clone(),
        );
        let phases = phases.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            // Relaxed: a stop switch.
            while sampling.load(Ordering::Relaxed) {
                tick.tick().await;
                let last = timeline.lock().unwrap().last().cloned();
                let s = sampler::sample(&world, since, last.as_ref()).await;
                display.frame(&s, total, scenario::name(&phases, s.phase));
                timeline.lock().unwrap().push(s);
            }
        })
    };

    let load = world.load.start(world.storefront);
    scenario::run(&world, &phases, &display, since).await?;
    // Relaxed: a stop switch; the joins below wait for the senders.
    world.load.stop.store(true, Ordering::Relaxed);
    load.join_all().await;
    world.enter(phases.len(), since);
    display.event(
        "drain: the load stopped; waiting for every saga to end and every event to be handled"
            .into(),
    );
    let drained = drain(&world, if quick { 30 } else { 60 }).await;
    // Relaxed: a stop switch; the sampler is awaited below.
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    display.finish();
    if !drained {
        println!("the drain did not finish in time");
    }
    world.shutdown().await;

    let timeline: Vec<Sample> = timeline.lock().unwrap().clone();
    let starts = world.phase_starts.lock().unwrap().clone();
    let report = report::build(&world, &phases, &starts, start_ms, &timeline).await?;
    println!("\nreport ({:.1} s)", since.elapsed().as_secs_f64());
    for line in report.lines() {
        println!("{line}");
    }
    let page = plots::report(&phases, &starts, &timeline, &report);
    std::fs::write(html_path, page)?;
    println!("\nHTML report with plots: {}", html_path.display());
    if report.ok() {
        println!("every check holds");
    } else {
        println!("a check failed");
    }
    Ok(report.ok())
}

/// Waits until no saga is running, the outbox is empty and the consumer
/// has handled what was published, for at most `secs` seconds.
async fn drain(world: &World, secs: u64) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        let sagas = sampler::saga_counts(&world.store).await.ok();
        let backlog = world.store.backlog().await.ok().map(|b| b.messages);
        let published = world
            .store
            .count("SELECT count(*) FROM events_published")
            .await
            .ok();
        // Relaxed: a counter that only grows, compared again next time.
        let handled = world.consumed.handled.load(Ordering::Relaxed);
        if let (Some(s), Some(0), Some(p)) = (sagas, backlog, published) {
            if s[2] == 0 && handled >= p {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

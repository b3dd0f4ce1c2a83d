//! A trip-booking saga on ballast-saga: book a flight, then a hotel, take
//! the payment (the pivot: no way back after it) and send the confirmation,
//! over in-process services that fail on command and count the effects
//! they apply by idempotency key. The saga log lives in SQLite in a temp
//! dir. It shows, printing as it goes:
//!
//! 1. a trip that completes;
//! 2. a trip the hotel refuses: the flight is cancelled (compensated);
//! 3. two trips whose flight cancellation keeps failing (stuck), resolved
//!    through the operator API: one retried once the airline recovers,
//!    one marked compensated after a person cancelled it by hand;
//! 4. a crash: the executor is aborted while the hotel is booking (the
//!    booking applied, the answer lost); a new executor takes the saga
//!    over after the lease and finishes it, each effect applied once.
//!
//! ```sh
//! cargo run -p ballast-examples --bin trip-booking
//! ```
//!
//! Exits 0 when every effect was applied at most once per idempotency key
//! and every trip ended as expected; 1 otherwise.

use ballast_saga::{
    Definition, Executor, ExecutorHandle, Operator, SagaId, Status, Step, StepContext, StepError,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// The saga's state: who travels and what is booked.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Trip {
    traveller: String,
    booked: Vec<String>,
}

/// An in-process service that applies each effect once per idempotency
/// key, counts the calls, and fails on command.
#[derive(Default)]
struct Service {
    name: &'static str,
    /// Calls by key, and effects applied by key (a repeated key changes
    /// nothing: the count stays at 1 unless the service is buggy).
    calls: Mutex<HashMap<String, u32>>,
    effects: Mutex<HashMap<String, u32>>,
    /// Refuse new bookings.
    refuse: AtomicBool,
    /// Fail cancellations (as if past the provider's limit).
    refuse_cancel: AtomicBool,
    /// Apply the booking, then never answer (to crash the executor).
    hang: AtomicBool,
    applied: Notify,
}

impl Service {
    fn new(name: &'static str) -> Arc<Service> {
        Arc::new(Service {
            name,
            ..Service::default()
        })
    }

    async fn call(&self, key: &str, cancel: bool) -> Result<(), StepError> {
        *self.calls.lock().unwrap().entry(key.into()).or_default() += 1;
        if cancel && self.refuse_cancel.load(Ordering::SeqCst) {
            println!("    {}: cancellation of {key} refused", self.name);
            return Err(StepError::transient("cancellations refused"));
        }
        if !cancel && self.refuse.load(Ordering::SeqCst) {
            println!("    {}: {key} refused", self.name);
            return Err(StepError::compensate("refused"));
        }
        let first = {
            let mut effects = self.effects.lock().unwrap();
            let n = effects.entry(key.into()).or_insert(0);
            // The service deduplicates: a key seen before changes nothing.
            let first = *n == 0;
            if first {
                *n = 1;
            }
            first
        };
        if first {
            println!("    {}: {key} applied", self.name);
        } else {
            println!(
                "    {}: {key} seen before; nothing applied again",
                self.name
            );
        }
        if self.hang.load(Ordering::SeqCst) {
            self.applied.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    fn applied(&self, key: &str) -> u32 {
        self.effects.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

/// One step over `svc`, with a cancellation if `undo`.
fn step(svc: &Arc<Service>, undo: bool) -> Step<Trip> {
    let (name, act) = (svc.name, svc.clone());
    let s = Step::new(name, move |c: StepContext<Trip>| {
        let svc = act.clone();
        async move {
            svc.call(c.idempotency_key(), false).await?;
            let mut t = c.into_state();
            t.booked.push(svc.name.into());
            Ok(t)
        }
    })
    .retry(
        ballast_retry::Config::builder()
            .max_attempts(2)
            .backoff(
                ballast_retry::Backoff::constant(Duration::from_millis(20))
                    .build()
                    .unwrap(),
            )
            .no_budget()
            .build()
            .unwrap(),
    )
    .timeout(Duration::from_secs(5));
    if !undo {
        return s;
    }
    let svc = svc.clone();
    s.compensate(move |c: StepContext<Trip>| {
        let svc = svc.clone();
        async move {
            svc.call(c.idempotency_key(), true).await?;
            let mut t = c.into_state();
            t.booked.retain(|b| b != svc.name);
            Ok(t)
        }
    })
}

struct Services {
    flight: Arc<Service>,
    hotel: Arc<Service>,
    payment: Arc<Service>,
    mail: Arc<Service>,
}

impl Services {
    fn all(&self) -> [&Arc<Service>; 4] {
        [&self.flight, &self.hotel, &self.payment, &self.mail]
    }

    fn trip(&self) -> Definition<Trip> {
        Definition::builder("trip", 1)
            .step(step(&self.flight, true))
            .step(step(&self.hotel, true))
            .step(step(&self.payment, false).pivot())
            .step(step(&self.mail, false))
            .build()
            .expect("a valid trip definition")
    }
}

async fn executor(
    pool: &sqlx::SqlitePool,
    services: &Services,
    owner: &str,
) -> Result<ExecutorHandle, ballast_saga::Error> {
    let config = ballast_saga::Config::builder()
        .owner(owner)
        .lease(Duration::from_millis(900))
        .tick(Duration::from_millis(100))
        .compensation_attempts(3)
        .compensation_backoff(ballast_retry::Backoff::constant(Duration::from_millis(20)).build()?)
        .build()?;
    Executor::builder(pool.clone())
        .config(config)
        .register(services.trip())
        .start()
        .await
}

async fn book(
    h: &ExecutorHandle,
    who: &str,
) -> Result<(SagaId, Status), Box<dyn std::error::Error>> {
    let trip = Trip {
        traveller: who.into(),
        booked: vec![],
    };
    let id = h.start_saga("trip", 1, &trip).await?;
    println!("  trip of {who}: saga {id}");
    let info = tokio::time::timeout(
        Duration::from_secs(20),
        h.wait(id, Duration::from_millis(10)),
    )
    .await??;
    println!(
        "  trip of {who}: {} {}",
        info.status,
        info.reason.as_deref().unwrap_or("")
    );
    Ok((id, info.status))
}

/// Prints a saga's log the way an operator reads it.
async fn show(op: &Operator, id: SagaId) -> Result<(), ballast_saga::Error> {
    for e in op.history(id).await? {
        let what = [e.step, e.error]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        println!("      {:>2} {:<22} {what}", e.n, e.kind.as_str());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("trips.db");
    println!("saga log: SQLite at {}", path.display());
    let pool = ballast_saga::sqlite::connect(&path).await?;
    let s = Services {
        flight: Service::new("flight"),
        hotel: Service::new("hotel"),
        payment: Service::new("payment"),
        mail: Service::new("confirmation"),
    };
    let h = executor(&pool, &s, "executor-1").await?;
    let op = h.operator();
    let mut expect: Vec<(&str, Status, Status)> = Vec::new();

    println!("\n1. a trip that completes");
    let (ada, st) = book(&h, "ada").await?;
    expect.push(("ada", st, Status::Completed));

    println!("\n2. the hotel refuses: the flight is cancelled");
    s.hotel.refuse.store(true, Ordering::SeqCst);
    let (bo, st) = book(&h, "bo").await?;
    expect.push(("bo", st, Status::Compensated));

    println!("\n3. the airline refuses cancellations: stuck, for an operator");
    s.flight.refuse_cancel.store(true, Ordering::SeqCst);
    let (cy, st) = book(&h, "cy").await?;
    expect.push(("cy", st, Status::Stuck));
    let (di, st) = book(&h, "di").await?;
    expect.push(("di", st, Status::Stuck));
    let stuck = op.list(Status::Stuck, 10).await?;
    println!("  operator: {} stuck sagas; the log of {cy}:", stuck.len());
    show(&op, cy).await?;
    s.hotel.refuse.store(false, Ordering::SeqCst);
    println!("  the airline recovers; operator alice retries cy's cancellation");
    s.flight.refuse_cancel.store(false, Ordering::SeqCst);
    op.retry_compensation(cy, "alice").await?;
    let cy_end = h.wait(cy, Duration::from_millis(10)).await?.status;
    println!("  trip of cy: {cy_end}");
    println!("  di's flight was cancelled by phone; operator bob marks it compensated");
    op.mark_compensated(di, "bob").await?;
    let refused = op.resume(di, "bob").await.err();
    println!(
        "  resuming it now is refused: {}",
        refused.as_ref().map(|e| e.to_string()).unwrap_or_default()
    );
    println!("  the log of {di}:");
    show(&op, di).await?;
    let di_end = op.saga(di).await?.status;

    println!("\n4. the executor crashes while the hotel books; another takes over");
    s.hotel.hang.store(true, Ordering::SeqCst);
    let ed = h
        .start_saga(
            "trip",
            1,
            &Trip {
                traveller: "ed".into(),
                booked: vec![],
            },
        )
        .await?;
    println!("  trip of ed: saga {ed}");
    tokio::time::timeout(Duration::from_secs(10), s.hotel.applied.notified()).await?;
    h.abort();
    s.hotel.hang.store(false, Ordering::SeqCst);
    println!("  executor-1 aborted (its lease runs out; nobody gives it back)");
    let h2 = executor(&pool, &s, "executor-2").await?;
    let ed_end = tokio::time::timeout(
        Duration::from_secs(20),
        h2.wait(ed, Duration::from_millis(10)),
    )
    .await??;
    println!("  trip of ed: {} by executor-2", ed_end.status);
    show(&h2.operator(), ed).await?;
    h2.shutdown().await?;

    println!("\nchecks");
    let mut ok = true;
    let mut check = |what: String, held: bool| {
        println!("  [{}] {what}", if held { "ok" } else { "FAILED" });
        ok &= held;
    };
    for svc in s.all() {
        let over = svc
            .effects
            .lock()
            .unwrap()
            .values()
            .filter(|&&n| n > 1)
            .count();
        check(
            format!("{}: each effect at most once per idempotency key", svc.name),
            over == 0,
        );
    }
    expect.extend([
        ("cy, after alice's retry", cy_end, Status::Compensated),
        ("di, after bob's decision", di_end, Status::Compensated),
        ("ed, after the crash", ed_end.status, Status::Completed),
    ]);
    for (who, got, want) in expect {
        check(
            format!("trip of {who}: {got} (expected {want})"),
            got == want,
        );
    }
    let key = |id: SagaId, step: &str| format!("{id}/{step}");
    for (id, who) in [(ada, "ada"), (ed, "ed")] {
        let all = s
            .all()
            .iter()
            .all(|svc| svc.applied(&key(id, svc.name)) == 1);
        check(
            format!("{who}: flight, hotel, payment and confirmation applied once each"),
            all,
        );
    }
    for (id, who) in [(bo, "bo"), (cy, "cy")] {
        let undone = s.flight.applied(&key(id, "flight/compensate")) == 1
            && s.payment.applied(&key(id, "payment")) == 0;
        check(
            format!("{who}: flight booked and cancelled, never paid"),
            undone,
        );
    }
    let hotel_calls = s
        .hotel
        .calls
        .lock()
        .unwrap()
        .get(&key(ed, "hotel"))
        .copied()
        .unwrap_or(0);
    check(
        format!("ed: the hotel was called {hotel_calls} times with one key, booked once"),
        hotel_calls == 2 && s.hotel.applied(&key(ed, "hotel")) == 1,
    );
    std::process::exit(if ok { 0 } else { 1 });
}

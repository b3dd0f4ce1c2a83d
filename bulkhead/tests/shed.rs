//! Load shedding with priorities, on tokio's paused clock.

use ballast_bulkhead::shed::{LoadShedder, Priority, ShedConfig};
use ballast_bulkhead::{BoxError, Reason, Rejected};
use futures::FutureExt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// A request: its priority and the gate that ends it.
type Req = (Priority, oneshot::Receiver<()>);

/// Counts the calls that reached the inner service.
fn gated(
    reached: Arc<AtomicUsize>,
) -> impl Service<Req, Response = Priority, Error = BoxError, Future: Send> + Clone + Send {
    service_fn(move |(p, gate): Req| {
        reached.fetch_add(1, Ordering::SeqCst);
        async move {
            let _ = gate.await;
            Ok::<_, BoxError>(p)
        }
    })
}

fn shedder(max: u32) -> LoadShedder {
    LoadShedder::new(ShedConfig::builder().max_in_flight(max).build().unwrap())
}

fn reason(err: &BoxError) -> Reason {
    err.downcast_ref::<Rejected>()
        .expect("a shedder rejection")
        .reason()
}

fn service(
    shedder: &LoadShedder,
    reached: Arc<AtomicUsize>,
) -> impl Service<Req, Response = Priority, Error = BoxError, Future: Send> + Clone + Send {
    ServiceBuilder::new()
        .layer(shedder.layer(|r: &Req| r.0))
        .service(gated(reached))
}

/// Starts a call of priority `p` that runs until the returned sender fires
/// (or is dropped); the call's future is polled once.
async fn start<S>(svc: &mut S, p: Priority) -> (oneshot::Sender<()>, Pin<Box<S::Future>>)
where
    S: Service<Req, Response = Priority, Error = BoxError>,
{
    let (tx, rx) = oneshot::channel();
    let mut fut = Box::pin(svc.ready().await.unwrap().call((p, rx)));
    assert!(
        (&mut fut).now_or_never().is_none(),
        "a {p:?} call still running"
    );
    (tx, fut)
}

#[tokio::test(start_paused = true)]
async fn under_saturation_low_is_shed_first_and_high_still_admitted() {
    let reached = Arc::new(AtomicUsize::new(0));
    let s = shedder(10);
    let mut svc = service(&s, reached.clone());
    let mut running = Vec::new();
    // Fill to 6 (low's share of 10 is 60%).
    for _ in 0..6 {
        running.push(start(&mut svc, Priority::Low).await);
    }
    let (_tx, rx) = oneshot::channel();
    let err = svc
        .ready()
        .await
        .unwrap()
        .call((Priority::Low, rx))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Reason::Overloaded);
    // Normal fills to 8, high to 9, critical to 10.
    for p in [
        Priority::Normal,
        Priority::Normal,
        Priority::High,
        Priority::Critical,
    ] {
        running.push(start(&mut svc, p).await);
    }
    assert_eq!(s.snapshot().in_flight, 10);
    // Now every priority is shed, critical too: the limit is reached.
    for p in Priority::ALL {
        let (_tx, rx) = oneshot::channel();
        let err = svc.ready().await.unwrap().call((p, rx)).await.unwrap_err();
        assert_eq!(reason(&err), Reason::Overloaded, "{p:?}");
    }
    let snap = s.snapshot();
    assert_eq!(snap.shed_of(Priority::Low), 2);
    assert_eq!(snap.shed_of(Priority::Critical), 1);
    assert_eq!(snap.shed, 5);
    assert_eq!(
        reached.load(Ordering::SeqCst),
        10,
        "shed calls never reach the service"
    );
}

#[tokio::test(start_paused = true)]
async fn between_thresholds_high_is_admitted_while_normal_is_shed() {
    let reached = Arc::new(AtomicUsize::new(0));
    let s = shedder(10);
    let mut svc = service(&s, reached);
    let mut running = Vec::new();
    for _ in 0..8 {
        running.push(start(&mut svc, Priority::Normal).await);
    }
    let (_tx, rx) = oneshot::channel();
    let err = svc
        .ready()
        .await
        .unwrap()
        .call((Priority::Normal, rx))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Reason::Overloaded);
    running.push(start(&mut svc, Priority::High).await);
    assert_eq!(s.snapshot().in_flight, 9);
    assert_eq!(s.snapshot().shed_of(Priority::Normal), 1);
    assert_eq!(s.snapshot().shed_of(Priority::High), 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_queues_a_shed_call_fails_at_once() {
    let reached = Arc::new(AtomicUsize::new(0));
    let s = shedder(1);
    let mut svc = service(&s, reached);
    let _running = start(&mut svc, Priority::Critical).await;
    let (_tx, rx) = oneshot::channel();
    let fut = svc.ready().await.unwrap().call((Priority::Critical, rx));
    // Ready on the first poll, without the clock moving.
    let start = Instant::now();
    let err = fut
        .now_or_never()
        .expect("shed without waiting")
        .unwrap_err();
    assert_eq!(reason(&err), Reason::Overloaded);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn finishing_or_dropping_a_call_gives_its_place_back() {
    let reached = Arc::new(AtomicUsize::new(0));
    let s = shedder(2);
    let mut svc = service(&s, reached);
    let (tx, finishing) = start(&mut svc, Priority::Critical).await;
    let (_tx2, dropped) = start(&mut svc, Priority::Critical).await;
    assert_eq!(s.snapshot().in_flight, 2);
    let _ = tx.send(());
    assert_eq!(finishing.await.unwrap(), Priority::Critical);
    assert_eq!(s.snapshot().in_flight, 1);
    drop(dropped); // cancelled while running
    assert_eq!(s.snapshot().in_flight, 0);
    // Both places can be taken again.
    let _a = start(&mut svc, Priority::Critical).await;
    let _b = start(&mut svc, Priority::Critical).await;
    assert_eq!(s.snapshot().shed, 0);
}

#[tokio::test(start_paused = true)]
async fn a_clone_polled_ready_and_never_called_holds_no_place() {
    let reached = Arc::new(AtomicUsize::new(0));
    let s = shedder(1);
    let svc = service(&s, reached);
    let mut idle = svc.clone();
    idle.ready().await.unwrap();
    assert_eq!(s.snapshot().in_flight, 0);
    let mut other = svc.clone();
    for _ in 0..3 {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(());
        let got = other.ready().await.unwrap().call((Priority::Low, rx)).await;
        assert_eq!(got.unwrap(), Priority::Low);
    }
    drop(idle);
}

#[tokio::test(start_paused = true)]
async fn shadow_mode_admits_everything_and_counts_what_it_would_shed() {
    let reached = Arc::new(AtomicUsize::new(0));
    let s = LoadShedder::new(
        ShedConfig::builder()
            .max_in_flight(10)
            .shadow(true)
            .build()
            .unwrap(),
    );
    let mut svc = service(&s, reached.clone());
    let mut running = Vec::new();
    for _ in 0..6 {
        running.push(start(&mut svc, Priority::Low).await);
    }
    // Would be shed: low at 6 of 10. An enforcing shedder would not have
    // admitted it, so the count its decisions read stays at 6.
    running.push(start(&mut svc, Priority::Low).await);
    for _ in 0..4 {
        running.push(start(&mut svc, Priority::Critical).await);
    }
    // Critical fills the limit (10 counted): the next would be shed.
    running.push(start(&mut svc, Priority::Critical).await);
    let snap = s.snapshot();
    assert!(snap.shadow);
    assert_eq!(snap.in_flight, 12, "everything admitted, over the limit");
    assert_eq!(snap.shed, 0);
    assert_eq!(snap.would_have_shed, 2);
    assert_eq!(snap.shed_of(Priority::Low), 1);
    assert_eq!(snap.shed_of(Priority::Critical), 1);
    assert_eq!(reached.load(Ordering::SeqCst), 12);
    drop(running);
    assert_eq!(s.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn the_helper_sheds_by_priority_and_releases_on_drop() {
    let s = shedder(2);
    // Low's share of 2 is ceil(1.2) = 2; normal's ceil(1.6) = 2. Use a
    // pending call to hold one place.
    let mut held = Box::pin(s.call(Priority::Normal, std::future::pending::<()>));
    assert!((&mut held).now_or_never().is_none());
    assert_eq!(s.snapshot().in_flight, 1);
    let mut held2 = Box::pin(s.call(Priority::High, std::future::pending::<()>));
    assert!((&mut held2).now_or_never().is_none());
    let err = s.call(Priority::Critical, || async {}).await.unwrap_err();
    assert_eq!(err.reason(), Reason::Overloaded);
    drop(held);
    drop(held2);
    assert_eq!(s.snapshot().in_flight, 0);
    assert_eq!(s.call(Priority::Low, || async { 5 }).await, Ok(5));
}

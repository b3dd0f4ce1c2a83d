//! The fixed bulkhead's rules, on tokio's paused clock.

use ballast_bulkhead::{BoxError, Bulkhead, Config, Reason, Rejected};
use ballast_deadline::Deadline;
use futures::FutureExt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// A call that runs until its sender fires, and answers what was sent.
type Req = (u32, oneshot::Receiver<()>);

/// A service that logs the order calls start in and their peak concurrency.
#[derive(Default)]
struct Probe {
    started: Mutex<Vec<u32>>,
    running: AtomicUsize,
    peak: AtomicUsize,
}

fn gated(
    probe: Arc<Probe>,
) -> impl Service<Req, Response = u32, Error = BoxError, Future: Send> + Clone + Send {
    service_fn(move |(id, gate): Req| {
        let probe = probe.clone();
        async move {
            probe.started.lock().unwrap().push(id);
            let now = probe.running.fetch_add(1, Ordering::SeqCst) + 1;
            probe.peak.fetch_max(now, Ordering::SeqCst);
            let _ = gate.await;
            probe.running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, BoxError>(id)
        }
    })
}

fn bulkhead(max: u32, wait: Duration, queue: usize) -> Bulkhead {
    let mut b = Config::builder().max_concurrent_calls(max).max_wait(wait);
    if queue > 0 {
        b = b.max_queue_len(queue);
    }
    Bulkhead::new(b.build().expect("valid config"))
}

fn reason(err: &BoxError) -> Reason {
    err.downcast_ref::<Rejected>()
        .expect("a bulkhead rejection")
        .reason()
}

/// Lets spawned tasks run until they block.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn never_more_than_max_in_flight() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(3, Duration::from_secs(60), 20);
    let svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(gated(probe.clone()));
    let mut gates = Vec::new();
    let mut tasks = Vec::new();
    for id in 0..20 {
        let (tx, rx) = oneshot::channel();
        gates.push(tx);
        let mut svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            svc.ready().await?.call((id, rx)).await
        }));
    }
    settle().await;
    assert_eq!(b.snapshot().in_flight, 3);
    assert_eq!(b.snapshot().queued, 17);
    for gate in gates {
        let _ = gate.send(());
        settle().await;
        assert!(probe.running.load(Ordering::SeqCst) <= 3);
    }
    for t in tasks {
        t.await.unwrap().expect("every call waited its turn");
    }
    assert_eq!(probe.peak.load(Ordering::SeqCst), 3);
    assert_eq!(b.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn rejects_at_once_when_full_and_no_wait_is_configured() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(1, Duration::ZERO, 0);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(gated(probe.clone()));
    let (_tx, rx) = oneshot::channel();
    let running = svc.ready().await.unwrap().call((1, rx));
    let (_tx2, rx2) = oneshot::channel();
    let err = svc.ready().await.unwrap().call((2, rx2)).await.unwrap_err();
    assert_eq!(reason(&err), Reason::BulkheadFull);
    let rejected = err.downcast_ref::<Rejected>().unwrap();
    assert!(
        !rejected.is_permanent(),
        "full is \"not now\", not \"never\""
    );
    assert_eq!(b.snapshot().rejected, 1);
    assert_eq!(
        *probe.started.lock().unwrap(),
        Vec::<u32>::new(),
        "nothing ran yet"
    );
    drop(running);
}

#[tokio::test(start_paused = true)]
async fn the_queue_is_served_in_fifo_order() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(1, Duration::from_secs(60), 10);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(gated(probe.clone()));
    let mut gates = Vec::new();
    let mut tasks = Vec::new();
    for id in 0..5 {
        let (tx, rx) = oneshot::channel();
        gates.push(tx);
        // Called in order 0..5, each call's future spawned after the call.
        let fut = svc.ready().await.unwrap().call((id, rx));
        tasks.push(tokio::spawn(fut));
    }
    settle().await;
    for gate in gates {
        let _ = gate.send(());
        settle().await;
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(*probe.started.lock().unwrap(), vec![0, 1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_rejects_with_queue_full() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(1, Duration::from_secs(60), 2);
    let mut svc = ServiceBuilder::new().layer(b.layer()).service(gated(probe));
    let mut held = Vec::new();
    for id in 0..3 {
        let (tx, rx) = oneshot::channel();
        held.push((tx, svc.ready().await.unwrap().call((id, rx))));
    }
    assert_eq!(b.snapshot().queued, 2);
    let (_tx, rx) = oneshot::channel();
    let err = svc.ready().await.unwrap().call((9, rx)).await.unwrap_err();
    assert_eq!(reason(&err), Reason::QueueFull);
    assert_eq!(b.snapshot().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_is_rejected_after_max_wait() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(1, Duration::from_millis(100), 4);
    let mut svc = ServiceBuilder::new().layer(b.layer()).service(gated(probe));
    let (_tx, rx) = oneshot::channel();
    let _running = svc.ready().await.unwrap().call((1, rx));
    let (_tx2, rx2) = oneshot::channel();
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call((2, rx2)).await.unwrap_err();
    assert_eq!(reason(&err), Reason::QueueTimeout);
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(b.snapshot().queued, 0);
    assert_eq!(b.snapshot().in_flight, 1);
}

#[tokio::test(start_paused = true)]
async fn waiting_never_exceeds_the_calls_deadline() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(1, Duration::from_secs(10), 4);
    let mut svc = ServiceBuilder::new().layer(b.layer()).service(gated(probe));
    let (_tx, rx) = oneshot::channel();
    let _running = svc.ready().await.unwrap().call((1, rx));
    let start = Instant::now();
    let err = Deadline::after(Duration::from_millis(30))
        .scope(async {
            let (_tx2, rx2) = oneshot::channel();
            svc.ready().await.unwrap().call((2, rx2)).await
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Reason::DeadlineExceeded);
    assert_eq!(start.elapsed(), Duration::from_millis(30));
    assert_eq!(b.snapshot().queued, 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_deadline_has_passed_does_not_queue() {
    let b = bulkhead(1, Duration::from_secs(10), 4);
    let mut held = Box::pin(b.call(std::future::pending::<()>));
    assert!(
        (&mut held).now_or_never().is_none(),
        "holds the only permit"
    );
    let err = Deadline::after(Duration::ZERO)
        .scope(b.call(|| async {}))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::DeadlineExceeded);
    assert_eq!(b.snapshot().queued, 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_waiting_future_gives_back_its_queue_slot() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(1, Duration::from_secs(60), 1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(gated(probe.clone()));
    let (tx, rx) = oneshot::channel();
    let running = tokio::spawn(svc.ready().await.unwrap().call((1, rx)));
    settle().await;
    let (_tx2, rx2) = oneshot::channel();
    let mut waiting = Box::pin(svc.ready().await.unwrap().call((2, rx2)));
    assert!((&mut waiting).now_or_never().is_none());
    assert_eq!(b.snapshot().queued, 1);
    drop(waiting);
    assert_eq!(b.snapshot().queued, 0);
    // The slot is free again, and the permit goes to the next caller.
    let (tx3, rx3) = oneshot::channel();
    let next = tokio::spawn(svc.ready().await.unwrap().call((3, rx3)));
    let _ = tx.send(());
    let _ = tx3.send(());
    assert_eq!(running.await.unwrap().unwrap(), 1);
    assert_eq!(next.await.unwrap().unwrap(), 3);
    assert_eq!(*probe.started.lock().unwrap(), vec![1, 3], "2 never ran");
    assert_eq!(b.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_running_future_gives_back_its_permit() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(1, Duration::ZERO, 0);
    let mut svc = ServiceBuilder::new().layer(b.layer()).service(gated(probe));
    let (_tx, rx) = oneshot::channel();
    let mut running = Box::pin(svc.ready().await.unwrap().call((1, rx)));
    assert!((&mut running).now_or_never().is_none());
    assert_eq!(b.snapshot().in_flight, 1);
    drop(running);
    assert_eq!(b.snapshot().in_flight, 0);
    let (tx2, rx2) = oneshot::channel();
    let _ = tx2.send(());
    assert_eq!(svc.ready().await.unwrap().call((2, rx2)).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_permit_handed_to_a_dropped_waiter_passes_to_the_next() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(1, Duration::from_secs(60), 2);
    let mut svc = ServiceBuilder::new().layer(b.layer()).service(gated(probe));
    let (tx, rx) = oneshot::channel();
    let running = svc.ready().await.unwrap().call((1, rx));
    let (_tx2, rx2) = oneshot::channel();
    let first = svc.ready().await.unwrap().call((2, rx2));
    let (tx3, rx3) = oneshot::channel();
    let second = tokio::spawn(svc.ready().await.unwrap().call((3, rx3)));
    let _ = tx.send(());
    assert_eq!(running.await.unwrap(), 1);
    // The permit was handed to `first`, which is dropped before it saw it.
    assert_eq!(b.snapshot().queued, 1);
    drop(first);
    let _ = tx3.send(());
    assert_eq!(second.await.unwrap().unwrap(), 3);
    assert_eq!(b.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_clone_polled_ready_and_never_called_does_not_starve_others() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(1, Duration::ZERO, 0);
    let svc = ServiceBuilder::new().layer(b.layer()).service(gated(probe));
    let mut idle = svc.clone();
    idle.ready().await.unwrap(); // polled ready, then never called
    assert_eq!(b.snapshot().in_flight, 0);
    let mut other = svc.clone();
    for id in 0..3 {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(());
        assert_eq!(
            other.ready().await.unwrap().call((id, rx)).await.unwrap(),
            id
        );
    }
    drop(idle);
}

#[tokio::test(start_paused = true)]
async fn the_helper_waits_its_turn_and_releases() {
    let b = bulkhead(1, Duration::from_secs(1), 1);
    let b2 = b.clone();
    let first = tokio::spawn(async move {
        b2.call(|| tokio::time::sleep(Duration::from_millis(50)))
            .await
    });
    settle().await;
    let start = Instant::now();
    assert_eq!(b.call(|| async { 7 }).await, Ok(7));
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    first.await.unwrap().unwrap();
    assert_eq!(b.snapshot().in_flight, 0);
}

fn shadow_bulkhead(max: u32, wait: Duration, queue: usize) -> Bulkhead {
    let mut b = Config::builder()
        .max_concurrent_calls(max)
        .max_wait(wait)
        .shadow(true);
    if queue > 0 {
        b = b.max_queue_len(queue);
    }
    Bulkhead::new(b.build().expect("valid config"))
}

#[tokio::test(start_paused = true)]
async fn shadow_mode_admits_everything_and_counts_what_it_would_reject() {
    let probe = Arc::new(Probe::default());
    let b = shadow_bulkhead(1, Duration::ZERO, 0);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(gated(probe.clone()));
    let mut running = Vec::new();
    for id in 0..3 {
        let (tx, rx) = oneshot::channel();
        let mut fut = Box::pin(svc.ready().await.unwrap().call((id, rx)));
        assert!((&mut fut).now_or_never().is_none(), "call {id} runs");
        running.push((tx, fut));
    }
    assert_eq!(
        probe.running.load(Ordering::SeqCst),
        3,
        "over the limit of 1"
    );
    let snap = b.snapshot();
    assert!(snap.shadow);
    assert_eq!((snap.in_flight, snap.limit), (3, 1));
    assert_eq!(
        (
            snap.rejected,
            snap.would_have_rejected,
            snap.would_have_queued
        ),
        (0, 2, 0)
    );
    for (tx, fut) in running.drain(..) {
        let _ = tx.send(());
        fut.await.unwrap();
    }
    assert_eq!(b.snapshot().in_flight, 0);
    // The permit itself was given back: the next call takes it, unrecorded.
    let (tx, rx) = oneshot::channel();
    let _ = tx.send(());
    svc.ready().await.unwrap().call((9, rx)).await.unwrap();
    assert_eq!(b.snapshot().would_have_rejected, 2);
}

#[tokio::test(start_paused = true)]
async fn shadow_mode_never_waits_and_counts_calls_that_would_have_queued() {
    let probe = Arc::new(Probe::default());
    let b = shadow_bulkhead(1, Duration::from_secs(60), 1);
    let mut svc = ServiceBuilder::new()
        .layer(b.layer())
        .service(gated(probe.clone()));
    let (_tx, rx) = oneshot::channel();
    let mut holder = Box::pin(svc.ready().await.unwrap().call((0, rx)));
    assert!((&mut holder).now_or_never().is_none());
    // The queue (1 place) would have taken the first, refused the second;
    // both run at once instead.
    let mut over = Vec::new();
    for id in 1..3 {
        let (tx, rx) = oneshot::channel();
        let mut fut = Box::pin(svc.ready().await.unwrap().call((id, rx)));
        assert!((&mut fut).now_or_never().is_none());
        over.push((tx, fut));
    }
    assert_eq!(probe.running.load(Ordering::SeqCst), 3, "none waits");
    let snap = b.snapshot();
    assert_eq!((snap.would_have_queued, snap.would_have_rejected), (1, 1));
    assert_eq!((snap.queued, snap.in_flight, snap.rejected), (0, 3, 0));
    for (tx, fut) in over {
        let _ = tx.send(());
        fut.await.unwrap();
    }
    drop(holder); // cancelled while running
    assert_eq!(b.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn shadow_mode_off_records_nothing_hypothetical() {
    let b = bulkhead(1, Duration::ZERO, 0);
    let mut held = Box::pin(b.call(std::future::pending::<()>));
    assert!((&mut held).now_or_never().is_none());
    assert_eq!(
        b.call(|| async {}).await.unwrap_err().reason(),
        Reason::BulkheadFull
    );
    let snap = b.snapshot();
    assert!(!snap.shadow);
    assert_eq!((snap.rejected, snap.would_have_rejected), (1, 0));
}

/// A bulkhead of one permit with a queue of `queue` and no `max_wait`.
fn queue_without_max_wait(queue: usize) -> Bulkhead {
    Bulkhead::new(
        Config::builder()
            .max_concurrent_calls(1)
            .max_queue_len(queue)
            .build()
            .expect("valid config"),
    )
}

#[tokio::test(start_paused = true)]
async fn a_queue_length_without_max_wait_waits_until_a_permit_frees() {
    let b = queue_without_max_wait(2);
    let (tx, rx) = oneshot::channel::<()>();
    let b2 = b.clone();
    let first = tokio::spawn(async move { b2.call(|| rx).await });
    settle().await;
    let b3 = b.clone();
    let second = tokio::spawn(async move { b3.call(|| async { 2 }).await });
    settle().await;
    assert_eq!(b.snapshot().queued, 1, "queued, not refused");
    // No deadline and no max_wait: an hour later it still waits.
    tokio::time::advance(Duration::from_secs(3600)).await;
    settle().await;
    assert!(!second.is_finished());
    assert_eq!(b.snapshot().rejected, 0);
    let _ = tx.send(());
    assert!(first.await.unwrap().is_ok());
    assert_eq!(second.await.unwrap(), Ok(2));
    assert_eq!(b.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_queue_length_without_max_wait_waits_until_the_calls_deadline() {
    let b = queue_without_max_wait(2);
    let mut held = Box::pin(b.call(std::future::pending::<()>));
    assert!((&mut held).now_or_never().is_none(), "holds the permit");
    let start = Instant::now();
    let err = Deadline::after(Duration::from_millis(30))
        .scope(b.call(|| async {}))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::DeadlineExceeded);
    assert_eq!(start.elapsed(), Duration::from_millis(30));
    assert_eq!(b.snapshot().queued, 0);
}

#[tokio::test(start_paused = true)]
async fn a_queue_length_without_max_wait_still_bounds_the_queue() {
    let b = queue_without_max_wait(1);
    let mut held = Box::pin(b.call(std::future::pending::<()>));
    assert!((&mut held).now_or_never().is_none(), "holds the permit");
    let mut waiting = Box::pin(b.call(|| async {}));
    assert!((&mut waiting).now_or_never().is_none(), "queued");
    let err = b.call(|| async {}).await.unwrap_err();
    assert_eq!(err.reason(), Reason::QueueFull);
    drop(waiting);
    assert_eq!(b.snapshot().queued, 0, "the slot is given back");
}

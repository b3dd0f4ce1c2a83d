//! The partitioned bulkhead's rules: shares guaranteed, idle shares lent
//! and returned, the limit never exceeded, slots given back on drop.

use ballast_bulkhead::partitioned::{PartitionId, PartitionedBulkhead, PartitionedConfig};
use ballast_bulkhead::{BoxError, Reason, Rejected};
use futures::FutureExt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::oneshot;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// A request: its tenant and the gate that ends it.
type Req = (String, oneshot::Receiver<()>);

/// Runs until the gate fires; tracks peak concurrency.
#[derive(Default)]
struct Probe {
    running: AtomicUsize,
    peak: AtomicUsize,
    reached: AtomicUsize,
}

fn gated(
    probe: Arc<Probe>,
) -> impl Service<Req, Response = String, Error = BoxError, Future: Send> + Clone + Send {
    service_fn(move |(tenant, gate): Req| {
        let probe = probe.clone();
        probe.reached.fetch_add(1, Ordering::SeqCst);
        async move {
            let now = probe.running.fetch_add(1, Ordering::SeqCst) + 1;
            probe.peak.fetch_max(now, Ordering::SeqCst);
            let _ = gate.await;
            probe.running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, BoxError>(tenant)
        }
    })
}

fn bulkhead(limit: u32, shares: &[(&'static str, u32)], kept: u32) -> PartitionedBulkhead {
    let mut b = PartitionedConfig::builder()
        .max_concurrent_calls(limit)
        .kept_free(kept);
    for &(name, share) in shares {
        b = b.partition(name, share);
    }
    PartitionedBulkhead::new(b.build().unwrap())
}

fn service(
    b: &PartitionedBulkhead,
    probe: Arc<Probe>,
) -> impl Service<Req, Response = String, Error = BoxError, Future: Send> + Clone + Send + use<> {
    let key = {
        let b = b.clone();
        move |req: &Req| b.partition(&req.0)
    };
    ServiceBuilder::new()
        .layer(b.layer(key))
        .service(gated(probe))
}

/// A call of `tenant` still running (polled once), or its refusal.
type Started<F> = Result<(oneshot::Sender<()>, Pin<Box<F>>), Reason>;

async fn start<S>(svc: &mut S, tenant: &str) -> Started<S::Future>
where
    S: Service<Req, Response = String, Error = BoxError>,
{
    let (tx, rx) = oneshot::channel();
    let mut fut = Box::pin(svc.ready().await.unwrap().call((tenant.to_string(), rx)));
    match (&mut fut).now_or_never() {
        None => Ok((tx, fut)),
        Some(Ok(_)) => panic!("the gate is still closed"),
        Some(Err(err)) => Err(err
            .downcast_ref::<Rejected>()
            .expect("a bulkhead rejection")
            .reason()),
    }
}

fn in_flight_of(b: &PartitionedBulkhead, name: &str) -> u64 {
    let snap = b.snapshot();
    snap.partitions
        .iter()
        .find(|p| p.name.as_ref() == name)
        .unwrap()
        .in_flight
}

#[tokio::test]
async fn an_idle_share_is_lent_except_the_slot_kept_for_its_owner() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(4, &[("a", 2), ("b", 2)], 1);
    let mut svc = service(&b, probe.clone());
    let mut running = Vec::new();
    for _ in 0..3 {
        running.push(start(&mut svc, "a").await.expect("own 2, then 1 borrowed"));
    }
    // b's last free slot is kept for b.
    assert_eq!(start(&mut svc, "a").await.err(), Some(Reason::BulkheadFull));
    running.push(start(&mut svc, "b").await.expect("b's kept slot"));
    assert_eq!(b.snapshot().in_flight, 4);
    assert_eq!(in_flight_of(&b, "a"), 3);
    assert_eq!(in_flight_of(&b, "b"), 1);
    assert_eq!(probe.reached.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_lent_slot_returns_to_its_owner_when_the_borrower_finishes() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(4, &[("a", 2), ("b", 2)], 1);
    let mut svc = service(&b, probe);
    let _a1 = start(&mut svc, "a").await.unwrap();
    let _a2 = start(&mut svc, "a").await.unwrap();
    let (tx, borrower) = start(&mut svc, "a").await.unwrap();
    let _b1 = start(&mut svc, "b").await.unwrap();
    // b is below its share, but its other slot is lent out: refused until
    // the borrower finishes (calls in flight are not cancelled).
    assert_eq!(start(&mut svc, "b").await.err(), Some(Reason::BulkheadFull));
    let _ = tx.send(());
    assert_eq!(borrower.await.unwrap(), "a");
    // The slot is b's again: a may not take it back, b may.
    assert_eq!(start(&mut svc, "a").await.err(), Some(Reason::BulkheadFull));
    let _b2 = start(&mut svc, "b").await.expect("its share is back");
    let snap = b.snapshot();
    assert_eq!((snap.in_flight, snap.rejected), (4, 2));
}

#[tokio::test]
async fn a_partition_below_its_kept_slots_is_always_admitted() {
    let probe = Arc::new(Probe::default());
    // c is guaranteed 3 and keeps 2 free from borrowers.
    let b = bulkhead(6, &[("a", 3), ("c", 3)], 2);
    let mut svc = service(&b, probe);
    let mut running = Vec::new();
    while let Ok(call) = start(&mut svc, "a").await {
        running.push(call);
    }
    assert_eq!(running.len(), 4, "3 of its own and 1 of c's");
    running.push(start(&mut svc, "c").await.expect("kept for c"));
    running.push(start(&mut svc, "c").await.expect("kept for c"));
    assert_eq!(start(&mut svc, "c").await.err(), Some(Reason::BulkheadFull));
}

#[tokio::test]
async fn unknown_keys_count_in_the_default_partition() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(3, &[("a", 2)], 0);
    let mut svc = service(&b, probe);
    assert_eq!(b.partition("nobody"), b.default_partition());
    assert_eq!(b.partition_name(b.default_partition()), "default");
    let _x = start(&mut svc, "x").await.unwrap();
    let _y = start(&mut svc, "y")
        .await
        .expect("borrowed from a (kept_free 0)");
    assert_eq!(in_flight_of(&b, "default"), 2);
    assert_eq!(in_flight_of(&b, "a"), 0);
    let snap = b.snapshot();
    let a = &snap.partitions[0];
    assert_eq!((a.share, a.share_used), (2, 1), "one of a's slots is lent");
}

#[tokio::test]
async fn never_more_than_the_limit_in_flight_across_partitions() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(5, &[("a", 2), ("b", 2)], 0);
    let svc = service(&b, probe.clone());
    let tenants = ["a", "b", "c", "a", "b"];
    let mut gates = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (tx, rx) = oneshot::channel();
        gates.push(tx);
        let mut svc = svc.clone();
        let tenant = tenants[i % tenants.len()];
        tasks.push(tokio::spawn(async move {
            svc.ready().await?.call((tenant.to_string(), rx)).await
        }));
    }
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(b.snapshot().in_flight, 5);
    drop(gates);
    let mut admitted = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5, "the rest were refused at once");
    assert!(probe.peak.load(Ordering::SeqCst) <= 5);
    assert_eq!(b.snapshot().rejected, 35);
    assert_eq!(b.snapshot().in_flight, 0);
}

#[tokio::test]
async fn dropping_running_calls_gives_back_own_and_borrowed_slots() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(2, &[("a", 1), ("b", 1)], 0);
    let mut svc = service(&b, probe);
    let own = start(&mut svc, "a").await.unwrap();
    let borrowed = start(&mut svc, "a").await.unwrap();
    assert_eq!(
        b.snapshot().partitions[1].share_used,
        1,
        "b's slot lent to a"
    );
    drop(borrowed);
    assert_eq!(b.snapshot().partitions[1].share_used, 0);
    drop(own);
    let snap = b.snapshot();
    assert_eq!(snap.in_flight, 0);
    assert!(
        snap.partitions
            .iter()
            .all(|p| p.in_flight == 0 && p.share_used == 0)
    );
    // Everything can be taken again.
    let _b1 = start(&mut svc, "b").await.unwrap();
    let _b2 = start(&mut svc, "b").await.unwrap();
}

#[tokio::test]
async fn a_clone_polled_ready_and_never_called_does_not_starve_others() {
    let probe = Arc::new(Probe::default());
    let b = bulkhead(1, &[("a", 1)], 0);
    let svc = service(&b, probe);
    let mut idle = svc.clone();
    idle.ready().await.unwrap(); // polled ready, then never called
    assert_eq!(b.snapshot().in_flight, 0);
    let mut other = svc.clone();
    for _ in 0..3 {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(());
        assert_eq!(
            other
                .ready()
                .await
                .unwrap()
                .call(("a".to_string(), rx))
                .await
                .unwrap(),
            "a"
        );
    }
    drop(idle);
    assert_eq!(b.snapshot().in_flight, 0);
}

#[tokio::test]
async fn the_helper_names_the_partition_that_refused() {
    let b = bulkhead(2, &[("checkout", 1), ("batch", 1)], 1);
    let batch = b.partition("batch");
    let mut held = Box::pin(b.call(batch, std::future::pending::<()>));
    assert!((&mut held).now_or_never().is_none());
    let err = b.call(batch, || async {}).await.unwrap_err();
    assert_eq!(err.partition(), "batch");
    assert_eq!(err.reason(), Reason::BulkheadFull);
    assert_eq!(err.to_string(), "bulkhead full in partition \"batch\"");
    let rejected: Rejected = err.into();
    assert!(!rejected.is_permanent());
    assert_eq!(b.snapshot().partitions[1].rejected, 1);
    drop(held); // cancelled while running
    assert_eq!(b.call(batch, || async { 3 }).await.unwrap(), 3);
    assert_eq!(b.snapshot().in_flight, 0);
}

#[tokio::test]
async fn shadow_mode_admits_everything_and_counts_what_it_would_refuse() {
    let probe = Arc::new(Probe::default());
    let b = PartitionedBulkhead::new(
        PartitionedConfig::builder()
            .max_concurrent_calls(2)
            .partition("a", 1)
            .partition("b", 1)
            .kept_free(1)
            .shadow(true)
            .build()
            .unwrap(),
    );
    let mut svc = service(&b, probe.clone());
    let mut running = Vec::new();
    for _ in 0..3 {
        running.push(start(&mut svc, "a").await.expect("shadow admits"));
    }
    running.push(start(&mut svc, "b").await.expect("shadow admits"));
    let snap = b.snapshot();
    assert!(snap.shadow);
    assert_eq!(snap.in_flight, 4, "over the limit of 2");
    assert_eq!((snap.rejected, snap.would_have_rejected), (0, 2));
    assert_eq!(snap.partitions[0].rejected, 2, "a's 2nd and 3rd");
    assert_eq!(snap.partitions[1].rejected, 0, "b's own slot was free");
    assert_eq!(probe.reached.load(Ordering::SeqCst), 4);
    drop(running);
    let snap = b.snapshot();
    assert_eq!(snap.in_flight, 0);
    assert!(snap.partitions.iter().all(|p| p.in_flight == 0));
}

#[tokio::test]
async fn an_id_from_a_larger_bulkhead_counts_in_the_default_partition() {
    let big = bulkhead(3, &[("a", 1), ("b", 1)], 0);
    let small = bulkhead(1, &[], 0);
    let foreign: PartitionId = big.default_partition();
    assert_eq!(small.call(foreign, || async { 1 }).await.unwrap(), 1);
    assert_eq!(small.snapshot().partitions[0].name.as_ref(), "default");
}

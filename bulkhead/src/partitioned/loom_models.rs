//! Loom models of the partition pools.
//!
//! Run with `RUSTFLAGS="--cfg ballast_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p ballast-bulkhead --lib -- loom_models`.

use super::core::Core;
use super::{PartitionedBulkhead, PartitionedConfig};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::future::Future;
use std::task::{Context, Waker};

/// Takes a slot for partition `i` if it can, checks the limit while
/// holding it, and gives it back. True if it got one.
fn call_once(c: &Core, i: usize, running: &AtomicUsize, limit: usize) -> bool {
    match c.acquire(i) {
        Some(slot) => {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(now <= limit, "{now} in flight, limit {limit}");
            running.fetch_sub(1, Ordering::SeqCst);
            c.release(slot.pool(i));
            true
        }
        None => false,
    }
}

#[test]
fn three_callers_of_two_partitions_never_exceed_the_limit() {
    loom::model(|| {
        // Lend everything, so borrowing races owning.
        let c = Arc::new(Core::new(&[1, 1], 0));
        let running = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = [0, 1]
            .into_iter()
            .map(|i| {
                let (c, running) = (c.clone(), running.clone());
                thread::spawn(move || call_once(&c, i, &running, 2))
            })
            .collect();
        call_once(&c, 0, &running, 2);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.total(), 0, "every slot given back");
    });
}

#[test]
fn an_owner_under_its_kept_slots_is_never_refused_while_others_borrow() {
    loom::model(|| {
        // Partition 0 is guaranteed 2 and keeps 1 from borrowers;
        // partition 1 (share 1) borrows what it can.
        let c = Arc::new(Core::new(&[2, 1], 1));
        let running = Arc::new(AtomicUsize::new(0));
        let borrowers: Vec<_> = (0..2)
            .map(|_| {
                let (c, running) = (c.clone(), running.clone());
                thread::spawn(move || {
                    let mine = c.acquire(1);
                    let borrowed = c.acquire(1);
                    let now = running.fetch_add(
                        usize::from(mine.is_some()) + usize::from(borrowed.is_some()),
                        Ordering::SeqCst,
                    );
                    assert!(now <= 3);
                    for slot in [mine, borrowed].into_iter().flatten() {
                        running.fetch_sub(1, Ordering::SeqCst);
                        c.release(slot.pool(1));
                    }
                })
            })
            .collect();
        // The owner, with none of its own in flight, is always admitted
        // to its own pool, whatever the borrowers did.
        let slot = c.acquire(0).expect("the kept slot is the owner's");
        assert_eq!(slot.pool(0), 0);
        c.release(0);
        for t in borrowers {
            t.join().unwrap();
        }
        assert_eq!(c.total(), 0);
    });
}

#[test]
fn a_slot_given_back_is_taken_by_exactly_one_racer() {
    loom::model(|| {
        let c = Arc::new(Core::new(&[1, 0], 0));
        let first = c.acquire(0).expect("free");
        let releaser = {
            let c = c.clone();
            thread::spawn(move || c.release(first.pool(0)))
        };
        let racers: Vec<_> = (0..2)
            .map(|k| {
                let c = c.clone();
                thread::spawn(move || c.acquire(k).map(|s| s.pool(k)))
            })
            .collect();
        releaser.join().unwrap();
        let got: Vec<_> = racers
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();
        assert!(got.len() <= 1, "one slot, {} holders", got.len());
        assert_eq!(c.total(), got.len() as u64);
    });
}

#[test]
fn cancelled_calls_give_their_slots_back() {
    loom::model(|| {
        let b = PartitionedBulkhead::new(
            PartitionedConfig::builder()
                .max_concurrent_calls(2)
                .partition("a", 1)
                .kept_free(0)
                .build()
                .unwrap(),
        );
        let a = b.partition("a");
        let other = b.default_partition();
        // Each thread starts a call that never finishes, polls it once and
        // drops it: cancelled while running (or refused).
        let threads: Vec<_> = [a, other]
            .into_iter()
            .map(|id| {
                let b = b.clone();
                thread::spawn(move || {
                    let mut fut = Box::pin(b.call(id, std::future::pending::<()>));
                    let mut cx = Context::from_waker(Waker::noop());
                    assert!(fut.as_mut().poll(&mut cx).is_pending());
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let snap = b.snapshot();
        assert_eq!(snap.in_flight, 0);
        assert!(
            snap.partitions
                .iter()
                .all(|p| p.in_flight == 0 && p.share_used == 0)
        );
    });
}

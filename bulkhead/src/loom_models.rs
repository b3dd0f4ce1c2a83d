//! Loom models of the permit counter.
//!
//! Run with `RUSTFLAGS="--cfg ballast_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p ballast-bulkhead --lib -- loom_models`. Each model
//! asserts its invariant inside the threads and the final state after the
//! joins.

use crate::core::{Admit, Core, Ticket};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::task::Waker;

/// Takes a permit, counting it in `running`, and checks the limit.
fn run_once(c: &Core, running: &AtomicUsize, max: usize) -> bool {
    let got = c.try_acquire()
        || match c.acquire_or_enqueue() {
            Admit::Acquired => true,
            Admit::Queued(id) => {
                // Model a caller that gives up at once: cancelled, or it
                // was handed a permit meanwhile.
                !c.cancel(id)
            }
            Admit::QueueFull => false,
        };
    if got {
        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(now <= max, "{now} in flight, limit {max}");
        running.fetch_sub(1, Ordering::SeqCst);
        c.release();
    }
    got
}

#[test]
fn three_callers_never_exceed_a_limit_of_two() {
    loom::model(|| {
        let c = Arc::new(Core::new(2, 1));
        let running = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (c, running) = (c.clone(), running.clone());
                thread::spawn(move || run_once(&c, &running, 2))
            })
            .collect();
        run_once(&c, &running, 2);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.in_flight(), 0);
        assert_eq!(c.queued(), 0);
    });
}

#[test]
fn release_racing_a_fresh_waiter_is_never_lost() {
    loom::model(|| {
        let c = Arc::new(Core::new(1, 2));
        assert!(c.try_acquire());
        let releaser = {
            let c = c.clone();
            thread::spawn(move || c.release())
        };
        // Either the freed permit is taken now, or we are queued and the
        // release hands it to us.
        let got = match c.acquire_or_enqueue() {
            Admit::Acquired => true,
            Admit::Queued(id) => {
                releaser.join().unwrap();
                assert!(c.poll_waiter(id, Waker::noop()), "the release skipped us");
                c.release();
                assert_eq!(c.in_flight(), 0);
                return;
            }
            Admit::QueueFull => false,
        };
        assert!(got);
        releaser.join().unwrap();
        c.release();
        assert_eq!(c.in_flight(), 0);
        assert_eq!(c.queued(), 0);
    });
}

#[test]
fn waiter_cancelled_as_a_permit_is_handed_to_it_passes_it_on() {
    loom::model(|| {
        let c = Arc::new(Core::new(1, 2));
        assert!(c.try_acquire());
        let Admit::Queued(first) = c.acquire_or_enqueue() else {
            panic!("the limit is held: queued")
        };
        let Admit::Queued(second) = c.acquire_or_enqueue() else {
            panic!("the limit is held: queued")
        };
        let releaser = {
            let c = c.clone();
            thread::spawn(move || c.release())
        };
        let canceller = {
            let c = c.clone();
            thread::spawn(move || {
                // A dropped waiter: leave the queue, or pass on a permit
                // handed to it in the same instant.
                if !c.cancel(first) {
                    c.release();
                }
            })
        };
        releaser.join().unwrap();
        canceller.join().unwrap();
        // Exactly one permit, now the second waiter's.
        assert!(c.poll_waiter(second, Waker::noop()));
        assert_eq!(c.in_flight(), 1);
        assert_eq!(c.queued(), 0);
        c.release();
        assert_eq!(c.in_flight(), 0);
    });
}

/// Queues `n` waiters behind the held permit of a limit of one.
fn queue_behind_a_held_permit(c: &Core, n: usize) -> Vec<Ticket> {
    assert!(c.try_acquire());
    (0..n)
        .map(|_| match c.acquire_or_enqueue() {
            Admit::Queued(t) => t,
            other => panic!("the limit is held: queued, got {other:?}"),
        })
        .collect()
}

#[test]
fn a_middle_waiter_leaving_as_the_front_is_served_keeps_the_order() {
    loom::model(|| {
        let c = Arc::new(Core::new(1, 3));
        let t = queue_behind_a_held_permit(&c, 3);
        let releaser = {
            let c = c.clone();
            thread::spawn(move || c.release())
        };
        let leaver = {
            let c = c.clone();
            let middle = t[1];
            thread::spawn(move || assert!(c.cancel(middle), "the front is served first"))
        };
        releaser.join().unwrap();
        leaver.join().unwrap();
        assert!(c.poll_waiter(t[0], Waker::noop()), "the front got it");
        assert!(!c.poll_waiter(t[2], Waker::noop()), "the back still waits");
        assert_eq!((c.queued(), c.in_flight()), (1, 1));
        c.release();
        assert!(c.poll_waiter(t[2], Waker::noop()));
        c.release();
        assert_eq!((c.queued(), c.in_flight()), (0, 0));
    });
}

#[test]
fn the_last_waiter_leaving_as_the_front_is_served_empties_the_queue_cleanly() {
    loom::model(|| {
        let c = Arc::new(Core::new(1, 2));
        let t = queue_behind_a_held_permit(&c, 2);
        let releaser = {
            let c = c.clone();
            thread::spawn(move || c.release())
        };
        let leaver = {
            let c = c.clone();
            let last = t[1];
            thread::spawn(move || assert!(c.cancel(last), "the front is served first"))
        };
        releaser.join().unwrap();
        leaver.join().unwrap();
        // The queue is empty (its slab reset): the front's ticket still
        // reads as served, and the fast path is open again once it is done.
        assert_eq!(c.queued(), 0);
        assert!(c.poll_waiter(t[0], Waker::noop()));
        assert!(!c.try_acquire(), "the front holds the permit");
        c.release();
        assert!(c.try_acquire(), "no waiter left: the fast path is open");
        c.release();
        assert_eq!(c.in_flight(), 0);
    });
}

#[test]
fn shadow_mode_admits_every_racer_and_never_overfills_the_permit_word() {
    use crate::{Bulkhead, Config};
    use std::future::Future;
    use std::task::Context;
    loom::model(|| {
        let b = Bulkhead::new(
            Config::builder()
                .max_concurrent_calls(1)
                .shadow(true)
                .build()
                .unwrap(),
        );
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || {
                    // A call that runs until dropped: admitted, whatever
                    // the other does, then cancelled.
                    let mut fut = Box::pin(b.call(std::future::pending::<()>));
                    let mut cx = Context::from_waker(Waker::noop());
                    assert!(fut.as_mut().poll(&mut cx).is_pending());
                    assert!(b.shared.core.in_flight() <= 1, "permit word over the limit");
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let snap = b.snapshot();
        assert_eq!(
            snap.in_flight, 0,
            "every permit and over-limit place given back"
        );
        assert!(snap.would_have_rejected <= 1);
        assert_eq!(snap.rejected, 0);
    });
}

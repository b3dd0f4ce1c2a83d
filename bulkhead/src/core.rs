//! The permit counter: the bulkhead's policy, with no clock, no tokio and
//! no tower.
//!
//! # Implementation notes
//!
//! One `AtomicU64` holds the whole admission state:
//!
//! - bits 0..63: permits held (calls in flight, plus permits handed to a
//!   waiter that has not yet seen them);
//! - bit 63 (`QUEUED`): the wait queue is non-empty.
//!
//! Who writes what:
//!
//! - The uncontended acquire ([`Core::try_acquire`]) is one CAS from `n` to
//!   `n + 1`, only while `n < max` and `QUEUED` is clear (a queued waiter
//!   goes first: FIFO).
//! - The uncontended release ([`Core::release`]) is one CAS from `n` to
//!   `n - 1`, only while `QUEUED` is clear. With `QUEUED` set it takes the
//!   queue lock and hands its permit straight to the first waiter (the
//!   count does not change), or decrements if the queue emptied meanwhile.
//! - `QUEUED` is set and cleared only under the queue lock, and it is set
//!   iff the queue is non-empty whenever the lock is free.
//!
//! No lost wakeup: a waiter is queued by a CAS that sets `QUEUED` on the
//! very value a releaser's CAS would decrement, so either the releaser's
//! decrement wins (and the enqueuer's CAS fails, rereads, and takes the
//! freed permit) or `QUEUED` wins (and the releaser's CAS fails, rereads,
//! and hands over under the lock, after the waiter is in the queue).
//!
//! A waiter leaves the queue either popped by a releaser (it now owns a
//! permit) or by removing itself ([`Core::cancel`]). Both happen under the
//! lock, so exactly one of them finds it: a waiter cancelled in the same
//! instant a permit was handed to it learns from `cancel` that it owns the
//! permit and must release it, which passes it on.

use crate::sync::{AtomicU64, CachePadded, Mutex, Ordering};
use std::collections::VecDeque;
use std::task::Waker;

const QUEUED: u64 = 1 << 63;
const COUNT: u64 = QUEUED - 1;

/// What a call that found no free permit on the fast path got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// A permit, after all.
    Acquired,
    /// A place in the queue, under this id.
    Queued(u64),
    /// Neither: the queue is full.
    QueueFull,
}

#[derive(Debug, Default)]
struct Queue {
    /// Waiters in arrival order; the waker is `None` until first polled.
    waiters: VecDeque<(u64, Option<Waker>)>,
    next_id: u64,
}

/// The shared permit counter and wait queue.
#[derive(Debug)]
pub(crate) struct Core {
    /// The hot word, on a line of its own.
    state: CachePadded<AtomicU64>,
    max: u64,
    max_queue: usize,
    queue: Mutex<Queue>,
}

impl Core {
    /// A counter of `max` permits (at least 1) with a queue of up to
    /// `max_queue` waiters (0: no queue).
    pub(crate) fn new(max: u32, max_queue: usize) -> Self {
        Self {
            state: CachePadded(AtomicU64::new(0)),
            max: u64::from(max),
            max_queue,
            queue: Mutex::new(Queue::default()),
        }
    }

    /// Takes a permit if one is free and nobody is queued. Atomics only.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        // Relaxed: the CAS below validates the value.
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & QUEUED != 0 || s >= self.max {
                return false;
            }
            // Acquire: pairs with the Release of the release that freed
            // this permit, so the holder's work happens-before ours.
            match self
                .state
                .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// The slow path after `try_acquire` failed: a permit if one is free
    /// now, else a place in the queue, else `QueueFull`.
    pub(crate) fn acquire_or_enqueue(&self) -> Admit {
        let mut q = self.queue.lock();
        // Relaxed: the CAS below validates the value.
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & COUNT < self.max {
                // Acquire: as in `try_acquire`. QUEUED is kept as it is.
                match self.state.compare_exchange_weak(
                    s,
                    s + 1,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Admit::Acquired,
                    Err(actual) => s = actual,
                }
                continue;
            }
            if q.waiters.len() >= self.max_queue {
                return Admit::QueueFull;
            }
            // Relaxed: QUEUED publishes nothing but itself; the queue is
            // read under the lock. The CAS (not a fetch_or) is what makes a
            // racing fast release fail and come to the lock.
            match self.state.compare_exchange_weak(
                s,
                s | QUEUED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let id = q.next_id;
                    q.next_id += 1;
                    q.waiters.push_back((id, None));
                    return Admit::Queued(id);
                }
                Err(actual) => s = actual,
            }
        }
    }

    /// Whether waiter `id` has been handed a permit; if not, `waker` is
    /// stored to be woken when it is.
    pub(crate) fn poll_waiter(&self, id: u64, waker: &Waker) -> bool {
        let mut q = self.queue.lock();
        match q.waiters.iter_mut().find(|(i, _)| *i == id) {
            Some((_, slot)) => {
                if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    *slot = Some(waker.clone());
                }
                false
            }
            None => true,
        }
    }

    /// Takes waiter `id` out of the queue. True if it was still queued;
    /// false if a permit was handed to it first (the caller owns it now).
    pub(crate) fn cancel(&self, id: u64) -> bool {
        let mut q = self.queue.lock();
        match q.waiters.iter().position(|(i, _)| *i == id) {
            Some(pos) => {
                q.waiters.remove(pos);
                if q.waiters.is_empty() {
                    // Relaxed: under the lock, see `acquire_or_enqueue`.
                    self.state.fetch_and(!QUEUED, Ordering::Relaxed);
                }
                true
            }
            None => false,
        }
    }

    /// Gives a permit back: to the first waiter if one is queued, else to
    /// the pool. Atomics only while nobody waits.
    #[inline]
    pub(crate) fn release(&self) {
        // Relaxed: the CAS below validates the value.
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & QUEUED != 0 {
                return self.release_to_queue();
            }
            debug_assert!(s & COUNT > 0, "released a permit never taken");
            // Release: the holder's work happens-before the next acquire.
            match self
                .state
                .compare_exchange_weak(s, s - 1, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
    }

    #[cold]
    fn release_to_queue(&self) {
        let mut q = self.queue.lock();
        match q.waiters.pop_front() {
            Some((_, waker)) => {
                if q.waiters.is_empty() {
                    // Relaxed: under the lock. The permit changes hands
                    // under the lock, which orders the two holders.
                    self.state.fetch_and(!QUEUED, Ordering::Relaxed);
                }
                drop(q);
                if let Some(w) = waker {
                    w.wake();
                }
            }
            None => {
                // The queue emptied (cancel) between our load and the
                // lock, and QUEUED was cleared with it.
                // Release: as in `release`.
                self.state.fetch_sub(1, Ordering::Release);
            }
        }
    }

    /// Permits held now (in flight, or handed to a waiter).
    pub(crate) fn in_flight(&self) -> u64 {
        self.state.load(Ordering::Relaxed) & COUNT
    }

    /// Waiters queued now.
    pub(crate) fn queued(&self) -> usize {
        self.queue.lock().waiters.len()
    }

    /// The limit.
    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// The most waiters the queue holds.
    pub(crate) fn max_queue(&self) -> usize {
        self.max_queue
    }

    /// Whether calls may wait at all.
    pub(crate) fn has_queue(&self) -> bool {
        self.max_queue > 0
    }
}

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
//!
//! The queue itself (under the lock) is a doubly linked list threaded
//! through a slab of nodes by index. Joining takes a vacant node (or a new
//! one) and links it at the back; a releaser unlinks the front; a waiter
//! finds its own node from its [`Ticket`] (index and id) in one step to
//! store a waker or to leave. Each of these is O(1) whatever the queue's
//! length. A node vacated by a hand-off may be reused by a later waiter,
//! but ids are never reused, so the earlier waiter's ticket matches
//! nothing and reads as "handed a permit", as it should. When the queue
//! empties the slab is cleared and shrunk to a few nodes, so a burst of
//! waiters does not hold its memory for good.

use crate::sync::{AtomicU64, Mutex, Ordering};
use std::task::Waker;

const QUEUED: u64 = 1 << 63;
const COUNT: u64 = QUEUED - 1;

/// What a call that found no free permit on the fast path got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// A permit, after all.
    Acquired,
    /// A place in the queue.
    Queued(Ticket),
    /// Neither: the queue is full.
    QueueFull,
}

/// A waiter's place in the queue: its node, and its id, which no other
/// waiter ever has (so a ticket whose node was vacated and taken by a later
/// waiter matches nothing).
///
/// Packed to 12 bytes: a waiting call's state holds one, and at 16 it would
/// grow every `ResponseFuture` by 8 bytes, which the fast path pays for in
/// moves (4 instructions a call under callgrind). Its fields are only ever
/// copied out, never borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed(4))]
pub(crate) struct Ticket {
    id: u64,
    index: u32,
}

/// The most waiters a queue holds, whatever is configured: a node's index
/// fits a ticket's `u32` (and four billion waiting calls fit no memory).
const MAX_QUEUE: usize = u32::MAX as usize;

/// No node: the end of a list.
const NIL: usize = usize::MAX;

/// The nodes an empty queue keeps room for.
const KEEP_NODES: usize = 64;

/// One waiter's place, or a vacant one.
#[derive(Debug)]
struct Node {
    /// The waiter's id while it is queued; `None` while vacant.
    id: Option<u64>,
    /// The waiter ahead of it.
    prev: usize,
    /// The waiter behind it, or while vacant the next vacant node.
    next: usize,
    /// `None` until the waiter is first polled.
    waker: Option<Waker>,
}

/// The waiters in arrival order: a doubly linked list threaded through a
/// slab of nodes (indices, not pointers), so joining at the back, leaving
/// from anywhere and popping the front are each a few index updates, and
/// a ticket finds its node in one step, however many wait.
#[derive(Debug)]
struct Queue {
    nodes: Vec<Node>,
    head: usize,
    tail: usize,
    /// The first vacant node, the others linked through `next`.
    vacant: usize,
    len: usize,
    next_id: u64,
    /// Nodes looked up, for the test that proves the work per operation
    /// does not grow with the queue.
    #[cfg(test)]
    steps: u64,
}

impl Default for Queue {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            vacant: NIL,
            len: 0,
            next_id: 0,
            #[cfg(test)]
            steps: 0,
        }
    }
}

impl Queue {
    /// Adds a waiter at the back.
    fn push_back(&mut self) -> Ticket {
        let id = self.next_id;
        self.next_id += 1;
        let node = Node {
            id: Some(id),
            prev: self.tail,
            next: NIL,
            waker: None,
        };
        let index = match self.vacant {
            NIL => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
            i => {
                self.vacant = self.nodes[i].next;
                self.nodes[i] = node;
                i
            }
        };
        match self.tail {
            NIL => self.head = index,
            t => self.nodes[t].next = index,
        }
        self.tail = index;
        self.len += 1;
        Ticket {
            id,
            index: u32::try_from(index).expect("the queue holds at most MAX_QUEUE waiters"),
        }
    }

    /// The node of `ticket`, if its waiter is still queued.
    fn find(&mut self, ticket: Ticket) -> Option<&mut Node> {
        #[cfg(test)]
        {
            self.steps += 1;
        }
        self.nodes
            .get_mut(ticket.index as usize)
            .filter(|n| n.id == Some(ticket.id))
    }

    /// Takes the waiter at node `i` out of the list, vacating the node;
    /// returns its waker.
    fn unlink(&mut self, i: usize) -> Option<Waker> {
        let (prev, next) = (self.nodes[i].prev, self.nodes[i].next);
        match prev {
            NIL => self.head = next,
            p => self.nodes[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n].prev = prev,
        }
        let node = &mut self.nodes[i];
        let waker = node.waker.take();
        node.id = None;
        node.next = self.vacant;
        self.vacant = i;
        self.len -= 1;
        if self.len == 0 {
            // Every node is vacant: start afresh. Ids are never reused, so
            // a ticket handed a permit before still matches nothing.
            self.nodes.clear();
            self.nodes.shrink_to(KEEP_NODES);
            self.vacant = NIL;
        }
        waker
    }

    /// Takes the first waiter out, if any; `Some(its waker)`.
    fn pop_front(&mut self) -> Option<Option<Waker>> {
        match self.head {
            NIL => None,
            h => Some(self.unlink(h)),
        }
    }
}

/// The shared permit counter and wait queue.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Core {
    /// The hot word, first: see [`Shared`](crate::bulkhead::Shared).
    state: AtomicU64,
    max: u64,
    max_queue: usize,
    queue: Mutex<Queue>,
}

/// Where the permit word sits in [`Core`] (see `Shared`'s layout).
#[cfg(all(test, not(ballast_loom)))]
pub(crate) const STATE_OFFSET: usize = std::mem::offset_of!(Core, state);

impl Core {
    /// A counter of `max` permits (at least 1) with a queue of up to
    /// `max_queue` waiters (0: no queue; at most [`MAX_QUEUE`]).
    pub(crate) fn new(max: u32, max_queue: usize) -> Self {
        Self {
            state: AtomicU64::new(0),
            max: u64::from(max),
            max_queue: max_queue.min(MAX_QUEUE),
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
            if q.len >= self.max_queue {
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
                Ok(_) => return Admit::Queued(q.push_back()),
                Err(actual) => s = actual,
            }
        }
    }

    /// Whether the waiter of `ticket` has been handed a permit; if not,
    /// `waker` is stored to be woken when it is.
    pub(crate) fn poll_waiter(&self, ticket: Ticket, waker: &Waker) -> bool {
        let mut q = self.queue.lock();
        match q.find(ticket) {
            Some(node) => {
                if !node.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    node.waker = Some(waker.clone());
                }
                false
            }
            None => true,
        }
    }

    /// Takes the waiter of `ticket` out of the queue. True if it was still
    /// queued; false if a permit was handed to it first (the caller owns
    /// it now).
    pub(crate) fn cancel(&self, ticket: Ticket) -> bool {
        let mut q = self.queue.lock();
        if q.find(ticket).is_none() {
            return false;
        }
        q.unlink(ticket.index as usize);
        if q.len == 0 {
            // Relaxed: under the lock, see `acquire_or_enqueue`.
            self.state.fetch_and(!QUEUED, Ordering::Relaxed);
        }
        true
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
        match q.pop_front() {
            Some(waker) => {
                if q.len == 0 {
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
        self.queue.lock().len
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

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    /// Waiter entries looked at while `n` waiters are queued (limit 1,
    /// held): a newcomer joins at the back, is polled, and cancels; a
    /// waiter in the middle cancels; a release hands its permit to the
    /// front.
    fn steps_with_queue_of(n: usize) -> u64 {
        let c = Core::new(1, n + 1);
        assert!(c.try_acquire());
        let ids: Vec<Ticket> = (0..n)
            .map(|_| match c.acquire_or_enqueue() {
                Admit::Queued(id) => id,
                other => panic!("the limit is held: queued, got {other:?}"),
            })
            .collect();
        let before = c.queue.lock().steps;
        let Admit::Queued(id) = c.acquire_or_enqueue() else {
            panic!("the limit is held: queued")
        };
        assert!(!c.poll_waiter(id, Waker::noop()));
        assert!(c.cancel(id));
        assert!(c.cancel(ids[n / 2]));
        c.release();
        assert!(c.poll_waiter(ids[0], Waker::noop()), "the front got it");
        let steps = c.queue.lock().steps - before;
        assert_eq!(c.queued(), n - 2);
        steps
    }

    #[test]
    fn queue_operations_look_at_as_many_waiters_with_10000_queued_as_with_10() {
        assert_eq!(steps_with_queue_of(10), steps_with_queue_of(10_000));
    }

    #[test]
    fn a_ticket_packs_into_12_bytes_so_waiting_state_stays_small() {
        assert_eq!(std::mem::size_of::<Ticket>(), 12);
        assert_eq!(std::mem::align_of::<Ticket>(), 4);
    }

    #[test]
    fn waiters_leave_in_any_order_and_the_rest_keep_theirs() {
        let c = Core::new(1, 8);
        assert!(c.try_acquire());
        let t: Vec<Ticket> = (0..5)
            .map(|_| match c.acquire_or_enqueue() {
                Admit::Queued(t) => t,
                other => panic!("queued, got {other:?}"),
            })
            .collect();
        // Leave from the back, the middle and the front.
        assert!(c.cancel(t[4]));
        assert!(c.cancel(t[2]));
        assert!(c.cancel(t[0]));
        // A newcomer reuses a vacated node but queues behind 1 and 3.
        let Admit::Queued(late) = c.acquire_or_enqueue() else {
            panic!("queued")
        };
        for (holder, next) in [(t[1], t[3]), (t[3], late)] {
            c.release();
            assert!(c.poll_waiter(holder, Waker::noop()), "FIFO");
            assert!(!c.poll_waiter(next, Waker::noop()));
        }
        c.release();
        assert!(c.poll_waiter(late, Waker::noop()));
        assert!(!c.cancel(late), "it owns the permit");
        assert_eq!((c.queued(), c.in_flight()), (0, 1));
    }

    #[test]
    fn an_emptied_queue_gives_back_its_memory_and_old_tickets_stay_granted() {
        let c = Core::new(1, 20_000);
        assert!(c.try_acquire());
        let t: Vec<Ticket> = (0..10_000)
            .map(|_| match c.acquire_or_enqueue() {
                Admit::Queued(t) => t,
                other => panic!("queued, got {other:?}"),
            })
            .collect();
        c.release();
        for &ticket in &t[1..] {
            assert!(c.cancel(ticket));
        }
        assert!(c.queue.lock().nodes.capacity() <= KEEP_NODES);
        // A new waiter takes node 0, the first waiter's, which was handed
        // a permit: that ticket still reads as granted.
        let Admit::Queued(next) = c.acquire_or_enqueue() else {
            panic!("queued")
        };
        assert!(c.poll_waiter(t[0], Waker::noop()));
        assert!(!c.poll_waiter(next, Waker::noop()));
        c.release();
        assert!(c.poll_waiter(next, Waker::noop()));
    }
}

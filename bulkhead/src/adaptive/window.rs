//! [`Tally`]: the samples of the window being filled, gathered lock-free.
//!
//! A finished call joins the window in three steps, each one atomic:
//!
//! 1. It takes a *ticket*: one CAS on `seats` (bits 32..64: the window's
//!    size `n`; bits 0..32: tickets taken), only while fewer than `n` are
//!    taken. A full window (its last calls are still adding, or its closer
//!    is running the algorithm) takes no more: a call that finds it full
//!    is left out of every window.
//! 2. Holding a ticket, it adds its round trip to the sums and extremes
//!    (`fetch_add`, `fetch_min`, `fetch_max`).
//! 3. It counts itself `done`. The call whose `done` reaches `n` is the
//!    window's one closer: every ticket holder has added by then, and
//!    nobody can add until the closer opens the next window, so it reads
//!    the sums alone, clears them, and only then stores `seats` back to
//!    `(n', 0)`.
//!
//! A call may give its ticket back between steps 1 and 2 (it turned out
//! to have started before the last limit change: its `generation`, read
//! when it was admitted, is behind): `seats` goes down by
//! one and the seat is free for another call. The window cannot close
//! while a ticket is held and not done, so the give-back always lands in
//! the window it was taken from.
//!
//! So every recorded call lands in exactly one window, a window closes
//! exactly once, after exactly `n` calls, and a closing window never
//! mixes with the next one.

use crate::sync::{AtomicU64, CachePadded, Ordering};

const LOW: u64 = (1 << 32) - 1;
const SIZE_SHIFT: u32 = 32;

/// What a closed window held, read by its closer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) calls: u32,
    pub(crate) dropped: u32,
    /// Sum and minimum of the round trips of calls not dropped.
    pub(crate) ok_sum: u64,
    pub(crate) ok_min: u64,
    /// Sum and minimum of the round trips of dropped calls.
    pub(crate) drop_sum: u64,
    pub(crate) drop_min: u64,
    pub(crate) max_in_flight: u32,
}

/// What taking a seat in the window got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seat {
    /// A ticket in a window of `size` calls.
    Taken { size: u32 },
    /// The window is full (closing): this call is left out.
    Full,
}

/// The window's counters. Every word is written by every finished call
/// (the drop words by dropped ones), so they share one cache line: a
/// finish moves that one line, not one per counter. The line is apart
/// from the admission word, which admissions write, and from the
/// generation, which every admission reads and only limit changes write.
pub(crate) struct Tally {
    inner: CachePadded<Words>,
    /// Limit changes so far: a call admitted under an older generation is
    /// left out. Only grows; written only under the limiter's lock.
    generation: CachePadded<AtomicU64>,
}

struct Words {
    /// Window size (high half) and tickets taken (low half).
    seats: AtomicU64,
    /// Ticket holders that have added their sample.
    done: AtomicU64,
    ok_sum: AtomicU64,
    ok_min: AtomicU64,
    max_in_flight: AtomicU64,
    /// Dropped calls (low half) in the window; their sum and minimum.
    dropped: AtomicU64,
    drop_sum: AtomicU64,
    drop_min: AtomicU64,
}

impl Tally {
    /// An empty window of `size` calls (at least 1).
    pub(crate) fn new(size: u32) -> Self {
        Self {
            inner: CachePadded(Words {
                seats: AtomicU64::new(u64::from(size.max(1)) << SIZE_SHIFT),
                done: AtomicU64::new(0),
                ok_sum: AtomicU64::new(0),
                ok_min: AtomicU64::new(u64::MAX),
                max_in_flight: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                drop_sum: AtomicU64::new(0),
                drop_min: AtomicU64::new(u64::MAX),
            }),
            generation: CachePadded(AtomicU64::new(0)),
        }
    }

    /// The generation now: read when a call is admitted, handed back
    /// when it finishes.
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        // Relaxed: the generation only grows, so a call behind the value
        // read is behind the current one too; a stale (lower) value is
        // caught by the check after the ticket (see `take_seat`). Read at
        // admission, it may be one change late, exactly as a clock read
        // just after the admission would be.
        self.generation.load(Ordering::Relaxed)
    }

    /// A limit change: calls admitted before it are left out from now on.
    /// Called under the limiter's lock, before the window it applies to is
    /// opened.
    pub(crate) fn next_generation(&self) {
        // Relaxed: published to the next window's callers by the Release
        // store that opens it (`open`), or, for a change by hand, only an
        // early filter (the window open then is discarded whole).
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes a ticket in the window being filled, for a call admitted in
    /// `generation`. `None`: the call started before the last limit change
    /// and is left out (a ticket it took is given back).
    #[inline]
    pub(crate) fn take_seat(&self, generation: u64) -> Option<Seat> {
        let w = &self.inner;
        // Relaxed: the CAS below validates the value.
        let mut seats = w.seats.load(Ordering::Relaxed);
        loop {
            let size = seats >> SIZE_SHIFT;
            if seats & LOW >= size {
                return Some(Seat::Full);
            }
            // Acquire: pairs with the Release store that opened this
            // window (`open`), so this call sees the cleared counters and
            // the generation of the window it joins.
            match w.seats.compare_exchange_weak(
                seats,
                seats + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => seats = actual,
            }
        }
        if generation < self.generation() {
            // The ticket is held and not done, so the window cannot have
            // closed: the decrement lands in the window it came from.
            // Relaxed: nothing was added, nothing to publish.
            w.seats.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        // The size fits 32 bits: it was stored from a u32.
        Some(Seat::Taken {
            size: (seats >> SIZE_SHIFT) as u32,
        })
    }

    /// Adds a ticket holder's sample and counts it done; `true` if it was
    /// the window's last, which makes the caller the closer: it must call
    /// [`take`](Self::take) and then [`open`](Self::open).
    #[inline]
    pub(crate) fn add(&self, size: u32, rtt: u64, in_flight: u32, dropped: bool) -> bool {
        let w = &self.inner;
        // Relaxed, all: these adds are published to the closer by the
        // Release half of `done`'s increment below.
        if dropped {
            w.dropped.fetch_add(1, Ordering::Relaxed);
            w.drop_sum.fetch_add(rtt, Ordering::Relaxed);
            w.drop_min.fetch_min(rtt, Ordering::Relaxed);
        } else {
            w.ok_sum.fetch_add(rtt, Ordering::Relaxed);
            // A load first: the minimum rarely moves, and a load does not
            // take the line exclusively as an RMW would.
            if rtt < w.ok_min.load(Ordering::Relaxed) {
                w.ok_min.fetch_min(rtt, Ordering::Relaxed);
            }
        }
        let in_flight = u64::from(in_flight);
        if in_flight > w.max_in_flight.load(Ordering::Relaxed) {
            w.max_in_flight.fetch_max(in_flight, Ordering::Relaxed);
        }
        // AcqRel: the Release publishes this call's adds; the Acquire, in
        // the last call, sees every other holder's (the increments form
        // one release sequence), so the closer reads complete sums.
        let done = w.done.fetch_add(1, Ordering::AcqRel) + 1;
        done == u64::from(size)
    }

    /// The closer's read of the full window, clearing it for the next.
    /// Nobody else touches the counters until [`open`](Self::open).
    pub(crate) fn take(&self) -> Totals {
        let w = &self.inner;
        // Relaxed, all: the closer's Acquire on `done` ordered every add
        // before these reads, and no ticket is handed out (the window is
        // full) until `open`'s Release store publishes the clearing.
        let calls = w.done.swap(0, Ordering::Relaxed) as u32;
        Totals {
            calls,
            dropped: w.dropped.swap(0, Ordering::Relaxed) as u32,
            ok_sum: w.ok_sum.swap(0, Ordering::Relaxed),
            ok_min: w.ok_min.swap(u64::MAX, Ordering::Relaxed),
            drop_sum: w.drop_sum.swap(0, Ordering::Relaxed),
            drop_min: w.drop_min.swap(u64::MAX, Ordering::Relaxed),
            max_in_flight: w.max_in_flight.swap(0, Ordering::Relaxed) as u32,
        }
    }

    /// Opens the next window, of `size` calls (at least 1). Only the
    /// closer calls it, after [`take`](Self::take).
    pub(crate) fn open(&self, size: u32) {
        // Release: the cleared counters (and a new generation) happen-before
        // every ticket of the new window (their Acquire CAS). A store, not
        // an RMW, is safe: the window is full and every ticket is done,
        // so no one else writes `seats` now.
        self.inner
            .seats
            .store(u64::from(size.max(1)) << SIZE_SHIFT, Ordering::Release);
    }

    /// Tickets taken in the window being filled.
    #[cfg(test)]
    pub(crate) fn taken(&self) -> u32 {
        // Relaxed: a reading for tests and the snapshot.
        (self.inner.seats.load(Ordering::Relaxed) & LOW) as u32
    }
}

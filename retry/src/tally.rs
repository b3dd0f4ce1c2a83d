//! [`Tally`]: a count made of per-thread counters (see
//! [`thread_cell`]), so counting is a plain load and
//! store with no locked instruction.
//!
//! # Implementation notes
//!
//! The tally hands each thread that counts in it a cache-padded counter
//! of its own and sums every counter ever handed out, under its mutex.
//! Counters are never freed while the tally lives: a thread that exits
//! gives its counter back, its count still in it, and the next thread to
//! ask takes that one (the mutex orders the last holder's stores before
//! the next holder's loads), so the sum only grows and is exact once the
//! counts it should see happened before the read (a call that returned
//! on this thread, or on another joined since).

use crate::sync::{AtomicU64, CachePadded, Mutex, Ordering};
use crate::thread_cell::{self, Cell, CellSource};
use std::sync::Arc;

/// A count that per-thread counters add up to.
#[derive(Debug)]
pub(crate) struct Tally {
    /// Picks this tally's counter among a thread's.
    id: u64,
    cells: Mutex<Cells>,
}

#[derive(Debug, Default)]
struct Cells {
    /// Live and free counters alike; never shrinks, so the sum only grows.
    all: Vec<Arc<Cell>>,
    /// Indices in `all` of the counters no thread holds.
    free: Vec<usize>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            id: thread_cell::next_id(),
            cells: Mutex::new(Cells::default()),
        }
    }
}

impl Tally {
    /// Counts one in this thread's counter, found through `memo` if the
    /// caller keeps one (see `thread_cell::add_one`); false (nothing
    /// counted) while the thread's locals are being destroyed.
    #[inline(always)]
    pub(crate) fn add(self: &Arc<Self>, memo: Option<&mut thread_cell::Memo>) -> bool {
        thread_cell::add_one(self, memo).is_some()
    }

    /// Every count ever made in its counters.
    pub(crate) fn sum(&self) -> u64 {
        let cells = self.cells.lock();
        cells.all.iter().fold(0u64, |sum, cell| {
            // Relaxed: a count; the mutex orders handovers, and coherence
            // keeps successive reads of one counter from going backwards.
            sum.wrapping_add(cell.load(Ordering::Relaxed))
        })
    }
}

impl CellSource for Tally {
    fn id(&self) -> u64 {
        self.id
    }

    fn take_cell(&self) -> (usize, Arc<Cell>) {
        let mut cells = self.cells.lock();
        if let Some(index) = cells.free.pop() {
            return (index, cells.all[index].clone());
        }
        let cell = Arc::new(CachePadded(AtomicU64::new(0)));
        cells.all.push(cell.clone());
        (cells.all.len() - 1, cell)
    }

    fn return_cell(&self, index: usize) {
        self.cells.lock().free.push(index);
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_on_two_threads_are_all_summed_and_exact_after_the_join() {
        let tally = Arc::new(Tally::default());
        assert!(tally.add(None));
        assert!(tally.add(None));
        assert_eq!(tally.sum(), 2, "exact right after counting");
        let other = tally.clone();
        std::thread::spawn(move || {
            assert!(other.add(None));
        })
        .join()
        .unwrap();
        assert_eq!(tally.sum(), 3, "an exited thread's count left the sum");
        // The exited thread gave its counter back; the next thread takes
        // it over and adds to it.
        let other = tally.clone();
        std::thread::spawn(move || {
            assert!(other.add(None));
        })
        .join()
        .unwrap();
        assert_eq!(tally.sum(), 4);
        assert_eq!(tally.cells.lock().all.len(), 2, "the counter was reused");
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod memo_tests {
    use super::*;
    use crate::thread_cell::Memo;

    #[test]
    fn a_memo_counts_exactly_wherever_its_owner_moves() {
        let tally = Arc::new(Tally::default());
        let mut memo = Memo::default();
        for _ in 0..3 {
            assert!(tally.add(Some(&mut memo)));
        }
        // Moved to another thread: the memo's counter is this thread's, so
        // it finds that thread's own and counts there.
        let (t, mut memo) = {
            let t = tally.clone();
            std::thread::spawn(move || {
                assert!(t.add(Some(&mut memo)));
                assert!(t.add(Some(&mut memo)));
                (t, memo)
            })
            .join()
            .unwrap()
        };
        drop(t);
        assert_eq!(tally.sum(), 5, "exact after the other thread's counts");
        // Back here: the other thread is gone and its counter handed back;
        // the memo finds this thread's counter again.
        assert!(tally.add(Some(&mut memo)));
        assert_eq!(tally.sum(), 6);
        assert_eq!(tally.cells.lock().all.len(), 2);
    }

    #[test]
    fn a_memo_never_writes_a_counter_its_thread_handed_over() {
        let tally = Arc::new(Tally::default());
        // A memo filled on a thread that then exits, handing its counter
        // back to the tally.
        let mut memo = {
            let t = tally.clone();
            std::thread::spawn(move || {
                let mut memo = Memo::default();
                assert!(t.add(Some(&mut memo)));
                memo
            })
            .join()
            .unwrap()
        };
        // Another thread takes that counter over and counts in it, while
        // the memo is used here, where its thread's token never matches.
        let t = tally.clone();
        let other = std::thread::spawn(move || {
            for _ in 0..10_000 {
                assert!(t.add(None));
            }
        });
        for _ in 0..10_000 {
            assert!(tally.add(Some(&mut memo)));
        }
        other.join().unwrap();
        assert_eq!(tally.sum(), 20_001, "no count lost to two writers");
    }
}

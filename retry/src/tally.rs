//! [`Tally`]: a count made of counters that each have one writer, so
//! counting is a plain load and store with no locked instruction.
//!
//! # Implementation notes
//!
//! Each service value takes a [`TallyCell`] when it is made: a
//! cache-padded counter that it alone writes (its `call` takes
//! `&mut self`), so a count is a Relaxed load and a Relaxed store of one
//! more, on a line no other thread writes. The tally's value is the sum
//! of every cell ever handed out, read under the mutex. Cells are never
//! freed while the tally lives: a dropped cell goes on a free list, its
//! count still in it, and the next cell taken is that one (the mutex
//! orders its last holder's stores before its next holder's loads), so
//! the sum only grows and is exact once the counts it should see
//! happened before the read (a call that returned on this thread, or on
//! another joined since). Taking and dropping a cell each take the mutex
//! once: the cost of counting without read-modify-writes moves from
//! every call to every clone.

use crate::sync::{AtomicU64, CachePadded, Mutex, Ordering};
use std::fmt;
use std::sync::Arc;

type Cell = CachePadded<AtomicU64>;

/// A count that single-writer cells add up to.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    cells: Mutex<Cells>,
}

#[derive(Debug, Default)]
struct Cells {
    /// Live and free cells alike; never shrinks, so the sum only grows.
    all: Vec<Arc<Cell>>,
    /// Indices in `all` of the cells no one holds.
    free: Vec<usize>,
}

impl Tally {
    /// A cell of its own for a new writer: a free one (its earlier
    /// holders' counts in it) or a new one.
    pub(crate) fn cell(self: &Arc<Self>) -> TallyCell {
        let mut cells = self.cells.lock();
        let (index, cell) = match cells.free.pop() {
            Some(index) => (index, cells.all[index].clone()),
            None => {
                let cell = Arc::new(CachePadded(AtomicU64::new(0)));
                cells.all.push(cell.clone());
                (cells.all.len() - 1, cell)
            }
        };
        TallyCell {
            tally: self.clone(),
            index,
            cell,
        }
    }

    /// Every count ever made in its cells.
    pub(crate) fn sum(&self) -> u64 {
        let cells = self.cells.lock();
        cells.all.iter().fold(0u64, |sum, cell| {
            // Relaxed: a count; the mutex orders handovers, and coherence
            // keeps successive reads of one cell from going backwards.
            sum.wrapping_add(cell.load(Ordering::Relaxed))
        })
    }
}

/// One writer's counter in a [`Tally`]. Not `Clone`: a second writer
/// would break the single-writer rule. Dropping it hands the counter,
/// and its count, back to the tally.
pub(crate) struct TallyCell {
    tally: Arc<Tally>,
    index: usize,
    cell: Arc<Cell>,
}

impl TallyCell {
    /// Counts one. `&mut self`: one writer at a time, which the plain
    /// load and store need.
    #[inline]
    pub(crate) fn add(&mut self) {
        // Relaxed load and store, not a `fetch_add`: we are the cell's
        // only writer, so no write can come between the two; readers sum
        // it under the tally's mutex (a count, ordering nothing else).
        let n = self.cell.load(Ordering::Relaxed);
        self.cell.store(n.wrapping_add(1), Ordering::Relaxed);
    }
}

impl Drop for TallyCell {
    fn drop(&mut self) {
        self.tally.cells.lock().free.push(self.index);
    }
}

impl fmt::Debug for TallyCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TallyCell")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_cell_keeps_its_count_and_is_taken_over() {
        let tally = Arc::new(Tally::default());
        let (mut a, mut b) = (tally.cell(), tally.cell());
        a.add();
        a.add();
        b.add();
        assert_eq!(tally.sum(), 3);
        drop(a);
        assert_eq!(tally.sum(), 3, "a dropped cell's count left the sum");
        let mut c = tally.cell();
        assert_eq!(c.index, 0, "the free cell is taken over");
        c.add();
        assert_eq!(tally.sum(), 4);
        drop((b, c));
        assert_eq!(tally.sum(), 4);
    }
}

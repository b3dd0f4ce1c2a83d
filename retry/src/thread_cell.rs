//! A thread's own counter in a shared count: counting with a plain load
//! and store, no locked instruction, and nothing to take per service
//! clone.
//!
//! # Implementation notes
//!
//! A [`CellSource`] (the budget's core, a [`Tally`](crate::tally::Tally))
//! hands out cache-padded counters and sums them all when it counts. Each
//! thread keeps, in a thread local, the counter it took from each source
//! it has counted in: only that thread ever writes it, so a count is a
//! Relaxed load and a Relaxed store of one more (see `add_one`), on a
//! cache line no other thread writes. A thread takes its counter the
//! first time it counts in a source (the source's mutex, once per thread
//! and source) and gives it back when it exits; a given-back counter
//! keeps its count and goes to the next thread that asks, the mutex
//! ordering its last holder's stores before its next holder's. Service
//! clones, however many and however short-lived (axum clones a service
//! for every request), cost nothing here.
//!
//! Entries are found by the source's id (unique per source, never
//! reused), and hold the source weakly: an entry whose source is gone is
//! dropped the next time the thread misses.
//!
//! Finding the entry (a thread local with a destructor, a `RefCell`
//! borrow, an id compared) costs a call about 5 ns, more than the count
//! itself. A [`Memo`] saves it: a service keeps, beside the source it
//! counts in, the counter it found and the token of the thread it found
//! it on. Each thread's token is unique for the life of the process
//! (never reused, so a counter handed over after its thread exited never
//! matches an old memo), read from a plain thread local with no
//! destructor; while the thread's entries are being destroyed it reads
//! [`DEAD`], which no memo holds. A call on the memo's thread counts
//! straight into the counter, whose only writer is still that thread; a
//! call anywhere else looks the entry up as before and remembers it.

use crate::sync::{AtomicU64, CachePadded, Ordering};
use std::cell::RefCell;
use std::sync::atomic::AtomicU64 as StdAtomicU64;
use std::sync::{Arc, Weak};

/// One counter, written by one thread at a time.
pub(crate) type Cell = CachePadded<AtomicU64>;

/// Hands out counters and takes them back (see the module notes).
pub(crate) trait CellSource: Send + Sync + 'static {
    /// The source's id, from [`next_id`].
    fn id(&self) -> u64;
    /// A counter for a new writer, and its index for `return_cell`.
    fn take_cell(&self) -> (usize, Arc<Cell>);
    /// Takes counter `index` back; its count stays counted.
    fn return_cell(&self, index: usize);
}

/// A new source's id: unique for the life of the process.
pub(crate) fn next_id() -> u64 {
    static NEXT: StdAtomicU64 = StdAtomicU64::new(0);
    // Relaxed: only needs to be unique.
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

struct Entry {
    id: u64,
    source: Weak<dyn CellSource>,
    index: usize,
    cell: Arc<Cell>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(source) = self.source.upgrade() {
            source.return_cell(self.index);
        }
    }
}

/// A thread's entries. Dropping them (the thread is exiting) first marks
/// the thread's token [`DEAD`], so no [`Memo`] counts into a counter the
/// thread is handing back.
struct Entries(Vec<Entry>);

impl Drop for Entries {
    fn drop(&mut self) {
        TOKEN.with(|t| t.set(DEAD));
    }
}

std::thread_local! {
    static CELLS: RefCell<Entries> = const { RefCell::new(Entries(Vec::new())) };
    /// This thread's token: 0 until its first entry, then unique.
    static TOKEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The token of a thread whose entries are gone or going.
const DEAD: u64 = u64::MAX;

/// This thread's token, made at its first entry (see the module notes).
fn token() -> u64 {
    TOKEN.with(|t| {
        if t.get() == 0 {
            static NEXT: StdAtomicU64 = StdAtomicU64::new(1);
            // Relaxed: only needs to be unique.
            t.set(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        }
        t.get()
    })
}

/// A counter found once and counted into directly while calls stay on
/// the thread that found it (see the module notes). Each service value
/// keeps one per source it counts in; it must always be used with the
/// same source.
#[derive(Clone, Default)]
pub(crate) struct Memo {
    /// The finding thread's token; 0 (no thread's) while `cell` is `None`.
    token: u64,
    cell: Option<Arc<Cell>>,
}

impl Memo {
    /// [`add_one`] through this memo.
    #[inline]
    fn add_one<S: CellSource>(&mut self, source: &Arc<S>) -> Option<u64> {
        if let Some(cell) = &self.cell
            && TOKEN.with(std::cell::Cell::get) == self.token
        {
            return Some(bump(cell));
        }
        self.find(source)
    }

    /// Looks this thread's counter up and remembers it.
    #[cold]
    #[inline(never)]
    fn find<S: CellSource>(&mut self, source: &Arc<S>) -> Option<u64> {
        let id = source.id();
        CELLS
            .try_with(|cells| {
                let mut cells = cells.borrow_mut();
                let cell = first_for(&mut cells.0, id, source).cell.clone();
                let before = bump(&cell);
                self.token = token();
                self.cell = Some(cell);
                before
            })
            .ok()
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo").field("token", &self.token).finish()
    }
}

/// Adds one to this thread's counter in `source` and returns the count
/// before, taking a counter first if this thread has none there yet.
/// `None` (nothing counted) when the thread's locals are being destroyed:
/// the caller then counts some other way. A service value passes the
/// [`Memo`] it keeps for `source`, which finds the counter without the
/// thread-local lookup while the value stays on one thread; one-off
/// callers (the plain helpers) pass `None`.
#[inline(always)]
pub(crate) fn add_one<S: CellSource>(source: &Arc<S>, memo: Option<&mut Memo>) -> Option<u64> {
    match memo {
        Some(memo) => memo.add_one(source),
        None => look_up_and_add(source),
    }
}

/// [`add_one`] without a memo: the thread-local lookup.
#[inline]
fn look_up_and_add<S: CellSource>(source: &Arc<S>) -> Option<u64> {
    let id = source.id();
    CELLS
        .try_with(|cells| {
            // A thread mostly counts in one source: it is kept first.
            if let Some(first) = cells.borrow().0.first()
                && first.id == id
            {
                return bump(&first.cell);
            }
            let mut cells = cells.borrow_mut();
            bump(&first_for(&mut cells.0, id, source).cell)
        })
        .ok()
}

/// This thread's entry for `source` (whose id is `id`), taken from it if
/// the thread has none yet, moved first: a thread mostly counts in one
/// source.
fn first_for<'a, S: CellSource>(cells: &'a mut Vec<Entry>, id: u64, source: &Arc<S>) -> &'a Entry {
    let at = match cells.iter().position(|e| e.id == id) {
        Some(at) => at,
        None => take(cells, id, source),
    };
    cells.swap(0, at);
    &cells[0]
}

/// One more in `cell`, which only this thread writes; the count before.
#[inline]
fn bump(cell: &Cell) -> u64 {
    // Relaxed load and store, not a `fetch_add`: this thread is the
    // counter's only writer (the source's mutex orders a handed-over
    // counter's last holder's stores before our loads), so no write can
    // come between the two. Relaxed: a count; readers sum it under the
    // source's mutex, and coherence keeps their successive reads from
    // going backwards.
    let before = cell.load(Ordering::Relaxed);
    cell.store(before.wrapping_add(1), Ordering::Relaxed);
    before
}

/// Takes a counter from `source` for this thread, dropping entries whose
/// source is gone; returns its position.
#[cold]
#[inline(never)]
fn take<S: CellSource>(cells: &mut Vec<Entry>, id: u64, source: &Arc<S>) -> usize {
    cells.retain(|e| e.source.strong_count() > 0);
    let (index, cell) = source.take_cell();
    let weak: Weak<S> = Arc::downgrade(source);
    cells.push(Entry {
        id,
        source: weak,
        index,
        cell,
    });
    cells.len() - 1
}

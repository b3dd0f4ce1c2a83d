//! The budget's concurrent core: deposits and withdrawals counted in a
//! ring of time buckets. It takes time as an argument and reads no clock.
//!
//! # Implementation notes
//!
//! `current` is the period (`now / bucket_nanos`) deposits go to, and
//! `slot` its bucket (`current % len`, stored so deposits never divide);
//! bucket `p % len` holds period `p`. The window is the `len` periods ending at
//! `current`, and every bucket holds one of them, so the window's contents
//! are simply the sum of all buckets.
//!
//! A bucket's deposits are counted in [`STRIPES`] counters, each on cache
//! lines of its own: a thread adds to one stripe only (picked once per
//! thread, never per service value), so threads on different cores rarely
//! write one line, and whoever reads a bucket's deposits (under the mutex)
//! sums its stripes.
//!
//! - **Deposit** (every original request; lock-free): load `slot`
//!   (Acquire), `fetch_add` one on the bucket's counter in the thread's
//!   stripe (Relaxed). Only every [`CLOCK_EVERY`]-th deposit into a
//!   stripe's bucket (the first included) asks the clock whether a new
//!   period has begun; the others never read it. A deposit can thus be
//!   dated up to [`CLOCK_EVERY`] deposits per stripe early, so it leaves
//!   the window early: that can only make the budget smaller, never
//!   larger.
//! - **Roll** (rare): under the mutex, empty the buckets of the periods
//!   after `current` up to the new one (all of them if the clock jumped by
//!   a whole window) with a `swap(0)` of each stripe whose value moves to
//!   `retired`, then
//!   publish the new `current` and `slot` (Release). `retired` plus the
//!   buckets is thus every deposit ever made, exactly (the policy's call
//!   count). A deposit
//!   that loaded the old `current` while a roll ran lands in the old
//!   period (it leaves the window early) or, if the jump reached its
//!   bucket, is lost or counted in the new period: never counted twice.
//! - **Withdraw** (every retry): under the mutex, roll to `now`, sum the
//!   window and, if the withdrawal fits, count it in the current bucket.
//!   The check and the count happen under one lock, and deposits only add
//!   to the balance, so two withdrawals can never both take the last
//!   retry the budget allows.
//!
//! A retry is allowed when `withdrawals + 1 <= reserve + deposits *
//! permille / 1000` within the window, and the same holds for the current
//! bucket alone (its own withdrawals against its own deposits, plus the
//! reserve), computed in integers (multiplied through by 1000). The
//! second rule keeps a burst of failures from spending in one bucket what
//! the whole window banked while the dependency was healthy: without it,
//! the first second of an outage after ten healthy seconds could see
//! `1 + 10 * percent` times its load. Deposits only add to both sides, so
//! the argument above holds for each.

use crate::sync::{AtomicU64, CachePadded, Mutex, Ordering};
use ballast_core::{Clock, Nanos};

/// How many deposits into one bucket pass between two looks at the clock.
pub(crate) const CLOCK_EVERY: u64 = 64;

/// How many copies of the deposit counters there are: each thread adds to
/// one, so threads on different cores do not fight over one cache line.
const STRIPES: usize = 4;

/// Unused counters before and after each stripe's, so no two stripes share
/// a cache line (128 bytes, as `CachePadded`).
const PAD: usize = 16;

/// A stripe for a new depositing thread, handed out round-robin.
fn next_stripe() -> usize {
    // std's, not loom's: which stripe a deposit goes to does not matter for
    // correctness (every reader sums them all), so loom need not model it.
    use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // Relaxed: only spreads depositors over the stripes.
    NEXT.fetch_add(1, StdOrdering::Relaxed) % STRIPES
}

/// No stripe picked yet (the thread's first deposit picks one).
const UNPICKED: usize = usize::MAX;

std::thread_local! {
    /// This thread's stripe. Const-initialised, with no destructor: a
    /// read is a plain thread-local load, with no lazy-init check out of
    /// line.
    static STRIPE: std::cell::Cell<usize> = const { std::cell::Cell::new(UNPICKED) };
}

/// The stripe of this thread, for deposits that name none.
#[inline]
fn thread_stripe() -> usize {
    let stripe = STRIPE.with(|s| s.get());
    if stripe != UNPICKED {
        return stripe;
    }
    pick_stripe()
}

/// A thread's first deposit: picks its stripe.
#[cold]
#[inline(never)]
fn pick_stripe() -> usize {
    let stripe = next_stripe();
    STRIPE.with(|s| s.set(stripe));
    stripe
}

#[derive(Debug)]
pub(crate) struct BudgetCore {
    bucket_nanos: u64,
    /// Retries allowed per 1000 deposits (20% is 200).
    permille: u64,
    /// Retries allowed in every window whatever the deposits.
    reserve: u64,
    /// Written only under `slow`.
    current: AtomicU64,
    /// `current % len`: the bucket deposits go to. Written only under `slow`.
    slot: CachePadded<AtomicU64>,
    /// Deposits that have left the window. Written only under `slow`.
    retired: AtomicU64,
    /// Deposits per stripe and bucket, one array:
    /// `deposits[stripe * stride + PAD + bucket]`.
    deposits: Box<[AtomicU64]>,
    /// `buckets + 2 * PAD`: one stripe's share of `deposits`.
    stride: usize,
    /// Withdrawals per bucket. Written only under the mutex.
    withdrawals: Box<[AtomicU64]>,
    /// Serialises rolls and withdrawals.
    slow: Mutex<()>,
}

/// What the window holds at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Balance {
    pub(crate) deposits: u64,
    pub(crate) withdrawals: u64,
    /// Retries the budget would allow now.
    pub(crate) available: u64,
}

impl BudgetCore {
    pub(crate) fn new(bucket_nanos: u64, buckets: u32, permille: u64, reserve: u64) -> Self {
        Self {
            bucket_nanos: bucket_nanos.max(1),
            permille,
            reserve,
            current: AtomicU64::new(0),
            slot: CachePadded(AtomicU64::new(0)),
            retired: AtomicU64::new(0),
            deposits: (0..STRIPES * (buckets.max(1) as usize + 2 * PAD))
                .map(|_| AtomicU64::new(0))
                .collect(),
            stride: buckets.max(1) as usize + 2 * PAD,
            withdrawals: (0..buckets.max(1)).map(|_| AtomicU64::new(0)).collect(),
            slow: Mutex::new(()),
        }
    }

    fn len(&self) -> u64 {
        self.withdrawals.len() as u64
    }

    /// The bucket that holds `period`.
    fn index(&self, period: u64) -> usize {
        (period % self.len()) as usize
    }

    /// Stripe `stripe`'s deposit counter of bucket `index`.
    #[inline]
    fn counter(&self, stripe: usize, index: usize) -> &AtomicU64 {
        &self.deposits[(stripe % STRIPES) * self.stride + PAD + index]
    }

    /// The deposits of bucket `index`, all stripes.
    fn deposits_in(&self, index: usize) -> u64 {
        (0..STRIPES).fold(0u64, |sum, stripe| {
            // Relaxed: counts (see `deposit`).
            sum.saturating_add(self.counter(stripe, index).load(Ordering::Relaxed))
        })
    }

    /// Counts one original request, asking `clock` for the time only now
    /// and then (see the module notes).
    #[inline]
    pub(crate) fn deposit(&self, clock: &impl Clock) {
        self.deposit_striped(clock, thread_stripe());
    }

    /// [`deposit`](Self::deposit) into `stripe` (from [`next_stripe`]),
    /// which a depositor keeps so that no two of them share a counter.
    #[inline]
    pub(crate) fn deposit_striped(&self, clock: &impl Clock, stripe: usize) {
        // Acquire: pairs with the Release in `roll_locked`, so this
        // period's bucket was emptied before we add to it.
        let slot = self.slot.load(Ordering::Acquire);
        // Relaxed: a count; the mutex orders the withdrawals that read it.
        let before = self
            .counter(stripe, slot as usize)
            .fetch_add(1, Ordering::Relaxed);
        if before % CLOCK_EVERY == 0 {
            self.look_at(clock);
        }
    }

    /// The look at the clock one deposit in [`CLOCK_EVERY`] makes: out of
    /// line, so the deposits that skip it stay a few instructions.
    #[cold]
    #[inline(never)]
    fn look_at(&self, clock: &impl Clock) {
        self.roll_to(clock.now());
    }

    /// Counts one original request made at `now`, dated exactly.
    pub(crate) fn deposit_at(&self, now: Nanos) {
        self.roll_to(now);
        // Acquire: see `deposit`.
        let slot = self.slot.load(Ordering::Acquire);
        // Relaxed: see `deposit`.
        self.counter(thread_stripe(), slot as usize)
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry from the budget at `now` if it allows one.
    pub(crate) fn try_withdraw(&self, now: Nanos) -> bool {
        self.withdraw(now).is_some()
    }

    /// Takes one retry from the budget at `now` if it allows one, and
    /// says in which period it was counted (for [`refund`](Self::refund)).
    pub(crate) fn withdraw(&self, now: Nanos) -> Option<u64> {
        let _slow = self.slow.lock();
        self.roll_locked(now / self.bucket_nanos);
        let balance = self.balance_locked();
        if balance.available == 0 {
            return None;
        }
        // Relaxed: under the mutex, the only writer and reader of
        // withdrawals; `current` is ours to read (we are its only writer).
        let period = self.current.load(Ordering::Relaxed);
        self.withdrawals[self.index(period)].fetch_add(1, Ordering::Relaxed);
        Some(period)
    }

    /// Gives back a retry taken in `period` that was never made (its call
    /// was dropped during the backoff). Nothing to do once the period has
    /// left the window: its withdrawals no longer count.
    pub(crate) fn refund(&self, period: u64) {
        let _slow = self.slow.lock();
        // Relaxed: `current` and withdrawals are read and written only
        // under the mutex we hold.
        let current = self.current.load(Ordering::Relaxed);
        if period.saturating_add(self.len()) <= current {
            return;
        }
        // `period <= current` (periods only move forward) and it is still
        // in the window, so its bucket holds it and the withdrawal counted
        // there is still in it.
        let w = &self.withdrawals[self.index(period)];
        // Relaxed: as above.
        w.store(
            w.load(Ordering::Relaxed).saturating_sub(1),
            Ordering::Relaxed,
        );
    }

    /// The window as seen at `now`.
    pub(crate) fn balance(&self, now: Nanos) -> Balance {
        let _slow = self.slow.lock();
        self.roll_locked(now / self.bucket_nanos);
        self.balance_locked()
    }

    fn balance_locked(&self) -> Balance {
        let (mut deposits, mut withdrawals) = (0u64, 0u64);
        for (i, w) in self.withdrawals.iter().enumerate() {
            deposits = deposits.saturating_add(self.deposits_in(i));
            // Relaxed: written under the mutex we hold.
            withdrawals = withdrawals.saturating_add(w.load(Ordering::Relaxed));
        }
        // Relaxed: `current` is written only under the mutex we hold.
        let current = self.index(self.current.load(Ordering::Relaxed));
        // Relaxed: as above.
        let (bucket_deposits, bucket_withdrawals) = (
            self.deposits_in(current),
            self.withdrawals[current].load(Ordering::Relaxed),
        );
        let in_window = self.allowed(deposits).saturating_sub(withdrawals);
        let in_bucket = self
            .allowed(bucket_deposits)
            .saturating_sub(bucket_withdrawals);
        Balance {
            deposits,
            withdrawals,
            available: in_window.min(in_bucket),
        }
    }

    /// Retries `deposits` pay for, the reserve included.
    fn allowed(&self, deposits: u64) -> u64 {
        let allowed = (u128::from(self.reserve) * 1000
            + u128::from(deposits) * u128::from(self.permille))
            / 1000;
        u64::try_from(allowed).unwrap_or(u64::MAX)
    }

    /// Every deposit ever made.
    pub(crate) fn total_deposits(&self) -> u64 {
        let _slow = self.slow.lock();
        // Relaxed: read under the mutex that orders its writes.
        let retired = self.retired.load(Ordering::Relaxed);
        retired.saturating_add(self.balance_locked().deposits)
    }

    /// Moves `current` to `now`'s period if it is behind.
    #[inline]
    fn roll_to(&self, now: Nanos) {
        let period = now / self.bucket_nanos;
        // Relaxed: only a hint; `roll_locked` checks again under the mutex.
        if period > self.current.load(Ordering::Relaxed) {
            let _slow = self.slow.lock();
            self.roll_locked(period);
        }
    }

    /// With the mutex held: zeroes the buckets of the periods after `current` up to
    /// `period` and publishes `period`.
    fn roll_locked(&self, period: u64) {
        // Relaxed: we hold the mutex, and only its holder writes `current`.
        let current = self.current.load(Ordering::Relaxed);
        if period <= current {
            return;
        }
        let len = self.len();
        let first = (current + 1).max(period.saturating_sub(len - 1));
        let mut retired = 0u64;
        for p in first..=period {
            let i = self.index(p);
            for stripe in 0..STRIPES {
                // Relaxed: published by the Release store of `slot` below;
                // the swap keeps a racing deposit either here or in the
                // bucket.
                let taken = self.counter(stripe, i).swap(0, Ordering::Relaxed);
                retired = retired.saturating_add(taken);
            }
            // Relaxed: written only under the mutex we hold.
            self.withdrawals[i].store(0, Ordering::Relaxed);
        }
        // Relaxed: `retired` and `current` are read only under the mutex.
        let before = self.retired.load(Ordering::Relaxed);
        self.retired
            .store(before.saturating_add(retired), Ordering::Relaxed);
        self.current.store(period, Ordering::Relaxed);
        // Release: deposits that read the new slot see its bucket emptied.
        self.slot.store(period % len, Ordering::Release);
    }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    /// 20% plus a reserve of 2, over 10 buckets of 1 s.
    fn core() -> BudgetCore {
        BudgetCore::new(SEC, 10, 200, 2)
    }

    #[test]
    fn reserve_then_percentage_of_deposits() {
        let c = core();
        assert_eq!(c.balance(0).available, 2);
        for _ in 0..10 {
            c.deposit_at(0);
        }
        assert_eq!(c.balance(0).available, 4);
        assert!((0..4).all(|_| c.try_withdraw(0)));
        assert!(!c.try_withdraw(0));
    }

    #[test]
    fn deposits_and_withdrawals_leave_the_window() {
        let c = core();
        for _ in 0..10 {
            c.deposit_at(0);
        }
        assert!(c.try_withdraw(5 * SEC));
        // The window has 3 left; period 9 has no deposits of its own, so
        // it may spend only the reserve, 2.
        let b = c.balance(9 * SEC);
        assert_eq!((b.deposits, b.withdrawals, b.available), (10, 1, 2));
        // At 10 s, period 0 (the deposits) has left the window; the
        // withdrawal at 5 s has not.
        let b = c.balance(10 * SEC);
        assert_eq!((b.deposits, b.withdrawals, b.available), (0, 1, 1));
        // A jump of more than a window empties it; the total stays.
        assert_eq!(c.balance(100 * SEC).available, 2);
        c.deposit_at(100 * SEC);
        assert_eq!(c.total_deposits(), 11);
    }

    #[test]
    fn one_bucket_cannot_spend_what_the_whole_window_banked() {
        // Nine healthy seconds of 100 requests bank 2 + 180 retries.
        let c = core();
        for second in 0..9 {
            for _ in 0..100 {
                c.deposit_at(second * SEC);
            }
        }
        assert_eq!(c.balance(8 * SEC).deposits, 900);
        // In second 9, 100 requests fail: 20% of them plus the reserve.
        let mut granted = 0;
        for _ in 0..100 {
            c.deposit_at(9 * SEC);
            granted += u64::from(c.try_withdraw(9 * SEC));
            granted += u64::from(c.try_withdraw(9 * SEC));
        }
        assert_eq!(granted, 20 + 2);
        // The next second may spend its own share again: the window still
        // has plenty.
        let mut next = 0;
        for _ in 0..100 {
            c.deposit_at(10 * SEC);
            next += u64::from(c.try_withdraw(10 * SEC));
        }
        assert_eq!(next, 20 + 2);
    }

    #[test]
    fn a_refund_gives_back_a_withdrawal_while_its_period_is_in_the_window() {
        let c = core();
        let period = c.withdraw(3 * SEC).unwrap();
        assert_eq!(period, 3);
        assert!(c.try_withdraw(3 * SEC));
        assert_eq!(c.balance(3 * SEC).available, 0);
        c.refund(period);
        assert_eq!(c.balance(3 * SEC).withdrawals, 1);
        assert_eq!(c.balance(3 * SEC).available, 1);
        // Once its period has left the window, a refund changes nothing.
        let late = c.withdraw(4 * SEC).unwrap();
        c.balance(14 * SEC);
        let before = c.balance(14 * SEC);
        c.refund(late);
        assert_eq!(c.balance(14 * SEC), before);
    }

    #[test]
    fn coarse_deposits_look_at_the_clock_once_per_batch() {
        struct Counting(std::cell::Cell<u64>, Nanos);
        impl Clock for Counting {
            fn now(&self) -> Nanos {
                self.0.set(self.0.get() + 1);
                self.1
            }
        }
        let c = core();
        let clock = Counting(std::cell::Cell::new(0), 0);
        for _ in 0..(3 * CLOCK_EVERY) {
            c.deposit(&clock);
        }
        assert_eq!(clock.0.get(), 3);
        assert_eq!(c.balance(0).deposits, 3 * CLOCK_EVERY);
        assert_eq!(c.total_deposits(), 3 * CLOCK_EVERY);
    }
}

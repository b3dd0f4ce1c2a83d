//! The budget's concurrent core: deposits and withdrawals counted in a
//! ring of time buckets. It takes time as an argument and reads no clock.
//!
//! # Implementation notes
//!
//! `current` is the period (`now / bucket_nanos`) deposits go to; bucket
//! `p % len` holds period `p`, and the window is the `len` periods ending
//! at `current`.
//!
//! Deposits are not counted per bucket: each is one more on a counter
//! that only grows, a [`StripedCounter`] (every deposit ever made). When
//! the window rolls into a period, it notes its sum as the period's
//! *mark*; a period's deposits are the next period's mark less its own,
//! the current one's the live sum less its mark, and the window's the
//! live sum less the mark of its oldest period.
//!
//! - **Deposit** (every original request; lock-free, and with no locked
//!   instruction for a thread that owns a stripe): one more on the
//!   thread's stripe (see [`StripedCounter`]). Only every [`CLOCK_EVERY`]-th
//!   deposit into a stripe (the first included) asks the clock whether a
//!   new period has begun; the others never read it. A deposit made after
//!   a period ended but before anyone rolled the window counts in the
//!   ended period: so it can be dated up to [`CLOCK_EVERY`] deposits per
//!   stripe early, and leave the window early, which can only make the
//!   budget smaller, never larger.
//! - **Roll** (rare): under the mutex, set the mark of each period after
//!   `current` up to the new one (all `len` of them if the clock jumped by
//!   a whole window) to the live sum, zero their withdrawals, and publish
//!   the new `current`. A deposit racing the roll is in the sum it reads
//!   (the old period) or not (the new one): never lost, never counted
//!   twice. Each stripe only grows and each roll reads every stripe after
//!   the last one did (the mutex orders them), so marks never decrease.
//! - **Withdraw** (every retry): under the mutex, roll to `now`, compute
//!   the window and, if the withdrawal fits, count it in the current
//!   bucket. The check and the count happen under one lock, and deposits
//!   only add to the balance, so two withdrawals can never both take the
//!   last retry the budget allows.
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

use crate::sync::{AtomicU64, Mutex, Ordering, StripedCounter};
use ballast_core::{Clock, Nanos};

/// How many deposits into one stripe pass between two looks at the clock.
pub(crate) const CLOCK_EVERY: u64 = 64;

#[derive(Debug)]
pub(crate) struct BudgetCore {
    bucket_nanos: u64,
    /// Retries allowed per 1000 deposits (20% is 200).
    permille: u64,
    /// Retries allowed in every window whatever the deposits.
    reserve: u64,
    /// Written only under `ring`'s mutex; read without it only as a hint.
    current: AtomicU64,
    deposits: StripedCounter,
    /// The buckets; the mutex serialises rolls and withdrawals.
    ring: Mutex<Ring>,
}

/// Per bucket, `len` of each.
#[derive(Debug)]
struct Ring {
    /// The deposit count when the bucket's period began.
    marks: Box<[u64]>,
    withdrawals: Box<[u64]>,
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
        let len = buckets.max(1) as usize;
        Self {
            bucket_nanos: bucket_nanos.max(1),
            permille,
            reserve,
            current: AtomicU64::new(0),
            deposits: StripedCounter::default(),
            ring: Mutex::new(Ring {
                marks: vec![0; len].into(),
                withdrawals: vec![0; len].into(),
            }),
        }
    }

    /// Counts one original request, asking `clock` for the time only now
    /// and then (see the module notes).
    #[inline]
    pub(crate) fn deposit(&self, clock: &impl Clock) {
        if self.deposits.add() % CLOCK_EVERY == 0 {
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
        self.deposits.add();
    }

    /// Takes one retry from the budget at `now` if it allows one.
    pub(crate) fn try_withdraw(&self, now: Nanos) -> bool {
        self.withdraw(now).is_some()
    }

    /// Takes one retry from the budget at `now` if it allows one, and
    /// says in which period it was counted (for [`refund`](Self::refund)).
    pub(crate) fn withdraw(&self, now: Nanos) -> Option<u64> {
        let mut ring = self.ring.lock();
        let period = self.roll_locked(&mut ring, now / self.bucket_nanos);
        if self.balance_locked(&ring, period).available == 0 {
            return None;
        }
        let i = index(&ring, period);
        ring.withdrawals[i] += 1;
        Some(period)
    }

    /// Gives back a retry taken in `period` that was never made (its call
    /// was dropped during the backoff). Nothing to do once the period has
    /// left the window: its withdrawals no longer count.
    pub(crate) fn refund(&self, period: u64) {
        let mut ring = self.ring.lock();
        // Relaxed: written only under the mutex we hold.
        let current = self.current.load(Ordering::Relaxed);
        if period.saturating_add(ring.withdrawals.len() as u64) <= current {
            return;
        }
        // `period <= current` (periods only move forward) and it is still
        // in the window, so its bucket holds it and the withdrawal counted
        // there is still in it.
        let i = index(&ring, period);
        ring.withdrawals[i] = ring.withdrawals[i].saturating_sub(1);
    }

    /// The window as seen at `now`.
    pub(crate) fn balance(&self, now: Nanos) -> Balance {
        let mut ring = self.ring.lock();
        let period = self.roll_locked(&mut ring, now / self.bucket_nanos);
        self.balance_locked(&ring, period)
    }

    /// The window ending at `current`, with the mutex held.
    fn balance_locked(&self, ring: &Ring, current: u64) -> Balance {
        let len = ring.marks.len() as u64;
        let total = self.deposits.sum();
        // Periods before 0 never held deposits: period 0's mark is 0.
        let oldest = current.saturating_sub(len - 1);
        let deposits = total.saturating_sub(ring.marks[index(ring, oldest)]);
        let withdrawals = ring
            .withdrawals
            .iter()
            .fold(0u64, |a, &w| a.saturating_add(w));
        let now = index(ring, current);
        let in_window = self.allowed(deposits).saturating_sub(withdrawals);
        let in_bucket = self
            .allowed(total.saturating_sub(ring.marks[now]))
            .saturating_sub(ring.withdrawals[now]);
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
        // Under the mutex, so a read follows every earlier roll's.
        let _ring = self.ring.lock();
        self.deposits.sum()
    }

    /// Moves `current` to `now`'s period if it is behind.
    #[inline]
    fn roll_to(&self, now: Nanos) {
        let period = now / self.bucket_nanos;
        // Relaxed: only a hint; `roll_locked` checks again under the mutex.
        if period > self.current.load(Ordering::Relaxed) {
            let mut ring = self.ring.lock();
            self.roll_locked(&mut ring, period);
        }
    }

    /// With the mutex held: begins the periods after `current` up to
    /// `period` (their marks at the live count, no withdrawals) and
    /// publishes `period`. Returns the current period, which is `period`
    /// unless the window is already past it.
    fn roll_locked(&self, ring: &mut Ring, period: u64) -> u64 {
        // Relaxed: we hold the mutex, and only its holder writes `current`.
        let current = self.current.load(Ordering::Relaxed);
        if period <= current {
            return current;
        }
        let len = ring.marks.len() as u64;
        let first = (current + 1).max(period.saturating_sub(len - 1));
        let total = self.deposits.sum();
        for p in first..=period {
            let i = index(ring, p);
            ring.marks[i] = total;
            ring.withdrawals[i] = 0;
        }
        // Relaxed: read under the mutex, or as a hint (`roll_to`).
        self.current.store(period, Ordering::Relaxed);
        period
    }
}

/// The bucket that holds `period`.
fn index(ring: &Ring, period: u64) -> usize {
    (period % ring.marks.len() as u64) as usize
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
    fn every_deposit_counts_with_more_threads_than_owned_stripes() {
        let c = core();
        // Three waves, so stripes of ended threads are taken again (going
        // on from their counts); each wave has more threads than there
        // are stripes to own (16), so some share the atomic one.
        const THREADS: u64 = 24;
        for _ in 0..3 {
            std::thread::scope(|s| {
                for _ in 0..THREADS {
                    s.spawn(|| {
                        for _ in 0..1000 {
                            c.deposit(&0u64);
                        }
                    });
                }
            });
        }
        let n = 3 * THREADS * 1000;
        assert_eq!(c.total_deposits(), n);
        assert_eq!(c.balance(0).deposits, n);
        // A period later they are all still in the window, none in the
        // new bucket (which may spend only the reserve).
        let b = c.balance(SEC);
        assert_eq!((b.deposits, b.available), (n, 2));
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

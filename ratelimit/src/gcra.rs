//! [`Gcra`]: the generic cell rate algorithm on one atomic word.
//!
//! GCRA is a token bucket described by time instead of tokens. A quota has
//! an *emission interval* `T` (one cell every `T` at the sustained rate) and
//! a burst `B`; `W = B × T` is the *burst window*, how long an idle limiter
//! takes to refill. The whole state is one number, the *theoretical arrival
//! time* `TAT`: when the next cell would be due if every cell so far had
//! arrived exactly at the sustained rate. A fresh limiter has `TAT = 0`.
//!
//! A request for `n` cells at `now`:
//!
//! ```text
//! base = max(TAT, now)          // an idle limiter does not bank time
//! next = base + n × T           // TAT after admitting the n cells
//! admit  iff  next − W ≤ now    // no more than W ahead of now
//! then   TAT := next
//! else   not before next − W    // exact wait, if nobody else takes cells
//! ```
//!
//! From idle (`TAT ≤ now`) this admits exactly `B` cells at once, then one
//! every `T`: over any interval of length `t` starting idle, at most
//! `B + ⌊t / T⌋` cells. A request for more than `B` cells can never pass
//! (`n × T > W`), which is a "never" rejection, not a "not now".
//!
//! Waiting ([`reserve_n`](Gcra::reserve_n)) relaxes the test to
//! `next − W ≤ now + max_wait` and still sets `TAT := next`: the cells are
//! taken now and become due at `next − W`, so a caller that sleeps until
//! then never over-admits, and callers queue in TAT order.
//!
//! # Implementation notes
//!
//! `TAT` is an `AtomicU64` of nanoseconds since the limiter's origin; `now`
//! is an argument (the core never reads a clock). A check loads `TAT`,
//! decides, and publishes `next` with one `compare_exchange_weak`; if
//! another thread moved `TAT` in between, the CAS fails, returns the new
//! value, and the decision is made again on it. So every admission is one
//! atomic read-modify-write of `TAT` building on the value it read, and two
//! admissions can never both build on the same old `TAT`: concurrent checks
//! admit exactly what some serial order of them would. A rejection writes
//! nothing (one load).
//!
//! Every access is `Relaxed`: `TAT` is a standalone number that publishes no
//! other memory, and the count-keeping relies only on the atomicity of the
//! CAS on this one location (its modification order), which every ordering
//! guarantees. The loom models check this.
//!
//! Arithmetic cannot overflow: `W ≤ 2^62` (checked when built), waits are
//! capped at `2^62`, and `now` stays below `2^62` ns (146 years after the
//! origin); the sums saturate anyway rather than wrap.

use crate::quota::{MAX_BURST_WINDOW, Quota};
use crate::state::Usage;
use crate::sync::{AtomicU64, Ordering};
use ballast_core::{ConfigError, Nanos, Reason, Rejected};
use std::fmt;
use std::time::Duration;

/// A lock-free GCRA limiter: the policy core, taking `now` as an argument.
///
/// Most users want [`RateLimiter`](crate::RateLimiter), which reads tokio's
/// clock, waits, counts and traces; `Gcra` is the bare algorithm for code
/// that keeps its own time.
///
/// ```
/// use ballast_ratelimit::{Gcra, Quota};
/// use std::num::NonZeroU32;
///
/// let gcra = Gcra::new(Quota::per_second(NonZeroU32::new(2).unwrap()))?;
/// assert!(gcra.check(0).is_ok());
/// assert!(gcra.check(0).is_ok());
/// let not_now = gcra.check(0).unwrap_err();
/// assert_eq!(not_now.retry_after_hint(), Some(std::time::Duration::from_millis(500)));
/// assert!(gcra.check(500_000_000).is_ok());
/// assert!(gcra.check_n(3, 10_000_000_000).unwrap_err().is_permanent());
/// # Ok::<(), ballast_ratelimit::ConfigError>(())
/// ```
pub struct Gcra {
    /// The theoretical arrival time, ns since the origin (see module docs).
    tat: AtomicU64,
    rule: GcraRule,
}

/// A GCRA's rule: its quota, without the state. The keyed limiter keeps
/// one rule and one word per key; [`Gcra`] is a rule with its own word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GcraRule {
    /// `T`: ns between cells at the sustained rate.
    interval: Nanos,
    /// `W = B × T`: how far `TAT` may run ahead of `now` and still admit.
    window: Nanos,
    /// `B`, kept to tell "never" from "not now" without a division.
    burst: u32,
}

impl GcraRule {
    /// The rule of `quota`; a burst window past [`MAX_BURST_WINDOW`] is an
    /// error.
    pub(crate) fn new(quota: Quota) -> Result<Self, ConfigError> {
        let window = quota.validate()?;
        Ok(Self {
            interval: quota.interval,
            window,
            burst: quota.burst.get(),
        })
    }

    /// Takes one cell at `now`, or says how long until one is free.
    #[inline]
    pub(crate) fn check(&self, word: &AtomicU64, now: Nanos) -> Result<(), Rejected> {
        self.take_one(word, now).map_err(not_until)
    }

    /// Takes one cell at `now`, or returns the time until one is free
    /// (taking nothing): [`check`](Self::check) without building the
    /// refusal, which keeps the admission every call makes in registers.
    #[inline]
    pub(crate) fn take_one(&self, word: &AtomicU64, now: Nanos) -> Result<(), Nanos> {
        // Relaxed: see "Implementation notes"; the CAS below re-validates.
        let mut tat = word.load(Ordering::Relaxed);
        let limit = now.saturating_add(self.window);
        loop {
            let next = tat.max(now).saturating_add(self.interval);
            if next > limit {
                return Err(next - limit);
            }
            // Relaxed on success and failure: only this word's modification
            // order matters; on failure we decide again on the value seen.
            match word.compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(seen) => tat = seen,
            }
        }
    }

    /// Takes `n` cells at once at `now`, or none.
    ///
    /// `n = 0` always passes. `n` above the burst can never pass and is
    /// rejected with [`RetryAfter::Never`](ballast_core::RetryAfter::Never).
    #[inline]
    pub(crate) fn check_n(&self, word: &AtomicU64, n: u32, now: Nanos) -> Result<(), Rejected> {
        self.reserve_n(word, n, now, 0).map(|_| ())
    }

    /// Takes `n` cells that become due within `max_wait` of `now`, and
    /// returns how long the caller must wait before using them (zero if
    /// they are due now).
    ///
    /// The cells are taken at once (`TAT` moves forward), so a caller that
    /// gives up its wait does not give them back: the limiter stays as if
    /// it had used them. If they would not be due within `max_wait`, nothing
    /// is taken and the rejection says when they would be.
    pub(crate) fn reserve_n(
        &self,
        word: &AtomicU64,
        n: u32,
        now: Nanos,
        max_wait: Nanos,
    ) -> Result<Nanos, Rejected> {
        if n > self.burst {
            return Err(never());
        }
        if n == 0 {
            return Ok(0);
        }
        let cells = u64::from(n) * self.interval; // ≤ W: no overflow
        let due_by = now.saturating_add(self.window);
        let limit = due_by.saturating_add(max_wait.min(MAX_BURST_WINDOW));
        // Relaxed: see "Implementation notes".
        let mut tat = word.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now).saturating_add(cells);
            if next > limit {
                return Err(not_until(next - due_by));
            }
            // Relaxed: as in `check`.
            match word.compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(next.saturating_sub(due_by)),
                Err(seen) => tat = seen,
            }
        }
    }

    /// True when this limiter's state is the same as a fresh one's at `now`
    /// (its whole burst is available), so it can be dropped and recreated
    /// without changing any decision.
    pub(crate) fn is_idle(&self, word: &AtomicU64, now: Nanos) -> bool {
        // Relaxed: a snapshot for eviction, decided under the shard lock.
        word.load(Ordering::Relaxed) <= now
    }

    /// How many cells could be taken at `now` without waiting.
    pub(crate) fn available(&self, word: &AtomicU64, now: Nanos) -> u32 {
        // Relaxed: a snapshot.
        let tat = word.load(Ordering::Relaxed).max(now);
        let used = tat - now; // ≤ W + max wait
        let free = self.window.saturating_sub(used) / self.interval;
        u32::try_from(free).unwrap_or(u32::MAX).min(self.burst)
    }

    /// `W`: how long an emptied limiter takes to refill.
    pub(crate) fn burst_window(&self) -> Nanos {
        self.window
    }

    /// What a client may know at `now`: the cells it could take without
    /// waiting, and how long until the whole burst is free again (`TAT −
    /// now`). The HTTP layer's `RateLimit` header reports these.
    pub(crate) fn usage(&self, word: &AtomicU64, now: Nanos) -> Usage {
        // Relaxed: a snapshot; the decision was made by the check before.
        let tat = word.load(Ordering::Relaxed);
        Usage {
            remaining: self.available(word, now),
            reset: tat.saturating_sub(now),
        }
    }
}

impl Gcra {
    /// A limiter with a full burst available at time 0.
    ///
    /// A quota whose burst window passes [`MAX_BURST_WINDOW`] is an error.
    pub fn new(quota: Quota) -> Result<Self, ConfigError> {
        Ok(Self {
            tat: AtomicU64::new(0),
            rule: GcraRule::new(quota)?,
        })
    }

    /// The quota this limiter enforces.
    pub fn quota(&self) -> Quota {
        Quota {
            interval: self.rule.interval,
            burst: std::num::NonZeroU32::new(self.rule.burst).expect("burst is validated non-zero"),
        }
    }

    /// Takes one cell at `now`, or says how long until one is free.
    #[inline]
    pub fn check(&self, now: Nanos) -> Result<(), Rejected> {
        self.rule.check(&self.tat, now)
    }

    /// Takes `n` cells at once at `now`, or none.
    ///
    /// `n = 0` always passes. `n` above the burst can never pass and is
    /// rejected with [`RetryAfter::Never`](ballast_core::RetryAfter::Never).
    #[inline]
    pub fn check_n(&self, n: u32, now: Nanos) -> Result<(), Rejected> {
        self.rule.check_n(&self.tat, n, now)
    }

    /// Takes `n` cells that become due within `max_wait` of `now`, and
    /// returns how long the caller must wait before using them (zero if
    /// they are due now).
    ///
    /// The cells are taken at once (`TAT` moves forward), so a caller that
    /// gives up its wait does not give them back: the limiter stays as if
    /// it had used them. If they would not be due within `max_wait`, nothing
    /// is taken and the rejection says when they would be.
    pub fn reserve_n(&self, n: u32, now: Nanos, max_wait: Nanos) -> Result<Nanos, Rejected> {
        self.rule.reserve_n(&self.tat, n, now, max_wait)
    }

    /// True when this limiter's state is the same as a fresh one's at `now`
    /// (its whole burst is available), so it can be dropped and recreated
    /// without changing any decision.
    pub fn is_idle(&self, now: Nanos) -> bool {
        self.rule.is_idle(&self.tat, now)
    }

    /// How many cells could be taken at `now` without waiting.
    pub fn available(&self, now: Nanos) -> u32 {
        self.rule.available(&self.tat, now)
    }

    #[cfg(test)]
    fn usage(&self, now: Nanos) -> Usage {
        self.rule.usage(&self.tat, now)
    }

    #[cfg(any(test, ballast_loom))]
    pub(crate) fn tat(&self) -> Nanos {
        self.tat.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Gcra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gcra")
            .field("interval", &Duration::from_nanos(self.rule.interval))
            .field("burst", &self.rule.burst)
            // Relaxed: a snapshot for display.
            .field("tat", &self.tat.load(Ordering::Relaxed))
            .finish()
    }
}

/// "Not now": the exact wait until the request would conform.
#[cold]
#[inline]
pub(crate) fn not_until(wait: Nanos) -> Rejected {
    Rejected::retry_after(Reason::RateLimited, Duration::from_nanos(wait))
}

/// "Never": the request is larger than the limit can ever admit.
#[cold]
#[inline]
pub(crate) fn never() -> Rejected {
    Rejected::never(Reason::RateLimited)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    const MS: Nanos = 1_000_000;
    const SEC: Nanos = 1_000_000_000;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn gcra(per_sec: u32, burst: u32) -> Gcra {
        Gcra::new(Quota::per_second(nz(per_sec)).allow_burst(nz(burst))).unwrap()
    }

    #[test]
    fn admits_exactly_burst_plus_rate_times_elapsed() {
        // 10/s (T = 100ms), burst 5: over [0, t] at most 5 + floor(t / T).
        for step in [MS, 7 * MS, 33 * MS, 100 * MS] {
            let g = gcra(10, 5);
            let mut admitted = 0u64;
            let mut now = 0;
            while now <= 3 * SEC {
                while g.check(now).is_ok() {
                    admitted += 1;
                }
                assert_eq!(admitted, 5 + now / (100 * MS), "step {step} at {now}");
                now += step;
            }
        }
    }

    #[test]
    fn rejection_carries_the_exact_wait() {
        let g = gcra(10, 2);
        g.check(0).unwrap();
        g.check(0).unwrap();
        let e = g.check(30 * MS).unwrap_err();
        assert_eq!(e.retry_after_hint(), Some(Duration::from_millis(70)));
        assert!(!e.is_permanent());
        assert!(g.check(100 * MS - 1).is_err());
        assert!(g.check(100 * MS).is_ok());
    }

    #[test]
    fn n_cells_pass_together_or_not_at_all() {
        let g = gcra(10, 5);
        g.check_n(3, 0).unwrap();
        let e = g.check_n(3, 0).unwrap_err();
        // Needs one more cell: due at 100ms.
        assert_eq!(e.retry_after_hint(), Some(Duration::from_millis(100)));
        g.check_n(2, 0).unwrap();
        assert!(g.check(0).is_err());
        assert!(g.check_n(0, 0).is_ok());
        assert!(g.check_n(3, 300 * MS).is_ok());
    }

    #[test]
    fn more_than_the_burst_is_never_admitted() {
        let g = gcra(10, 5);
        let e = g.check_n(6, 100 * SEC).unwrap_err();
        assert!(e.is_permanent());
        assert_eq!(e.retry_after_hint(), None);
        assert!(
            g.check_n(5, 100 * SEC).is_ok(),
            "a never rejection takes nothing"
        );
    }

    #[test]
    fn reserve_takes_cells_that_are_due_later_in_order() {
        let g = gcra(10, 1);
        assert_eq!(g.reserve_n(1, 0, SEC), Ok(0));
        assert_eq!(g.reserve_n(1, 0, SEC), Ok(100 * MS));
        assert_eq!(g.reserve_n(1, 10 * MS, SEC), Ok(190 * MS));
        let e = g.reserve_n(1, 10 * MS, 200 * MS).unwrap_err();
        assert_eq!(e.retry_after_hint(), Some(Duration::from_millis(290)));
        // Nothing was taken by the refusal.
        assert_eq!(g.tat(), 300 * MS);
    }

    #[test]
    fn idle_state_is_indistinguishable_from_fresh() {
        let g = gcra(10, 3);
        g.check_n(3, 0).unwrap();
        assert!(!g.is_idle(299 * MS));
        assert!(g.is_idle(300 * MS));
        assert_eq!(g.available(300 * MS), 3);
        assert_eq!(g.available(150 * MS), 1);
    }

    #[test]
    fn usage_counts_free_cells_and_the_time_to_refill() {
        let g = gcra(10, 3);
        assert_eq!(
            g.usage(0),
            Usage {
                remaining: 3,
                reset: 0
            }
        );
        g.check_n(2, 0).unwrap();
        assert_eq!(
            g.usage(0),
            Usage {
                remaining: 1,
                reset: 200 * MS
            }
        );
        assert_eq!(
            g.usage(150 * MS),
            Usage {
                remaining: 2,
                reset: 50 * MS
            }
        );
        g.check_n(2, 150 * MS).unwrap();
        assert_eq!(
            g.usage(150 * MS),
            Usage {
                remaining: 0,
                reset: 250 * MS
            }
        );
    }

    #[test]
    fn overflowing_burst_window_is_a_config_error() {
        let q = Quota::per_hour(nz(1)).allow_burst(nz(u32::MAX));
        let e = Gcra::new(q).unwrap_err();
        assert_eq!(e.field(), "burst");
        assert!(Quota::new(0, Duration::from_secs(1)).is_err());
        assert!(Quota::new(2, Duration::from_nanos(1)).is_err());
        assert!(Quota::with_period(Duration::ZERO).is_err());
        assert!(Quota::with_period(Duration::MAX).is_err());
    }

    #[test]
    fn huge_now_does_not_overflow() {
        let g = gcra(1, 1);
        // Past 2^62 ns the sums saturate instead of wrapping or panicking.
        assert!(g.check(u64::MAX - 1).is_ok());
        let _ = g.check(u64::MAX);
        let _ = g.reserve_n(1, u64::MAX, u64::MAX);
    }
}

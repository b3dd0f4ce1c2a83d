//! [`RetryBudget`]: caps the extra load retries add, shared by every
//! service and helper that retries toward one dependency.
//!
//! As Finagle's `RetryBudget`: every original request deposits, every
//! retry withdraws, and over a sliding window retries may add at most a
//! percentage of the requests plus a small reserve (a minimum number of
//! retries per second, so a service with little traffic can still retry).
//! When a dependency is down and every request fails, the load it sees is
//! thus at most `1 + percent/100` times the offered load instead of
//! `max_attempts` times.
//!
//! Unlike Finagle's, one bucket of the window (a second, by default) may
//! not spend more than the percentage of its own requests plus the
//! reserve: the retries a healthy window banks are not all spent in the
//! first second of an outage. With 1,000 requests a second and the
//! default budget, the worst second of an outage sees at most 1.3 times
//! its load (1 + 20% + a reserve of 100), where a bank-only budget lets
//! the first failing second see 3 times (tests/storm_simulation.rs).

mod config;
#[cfg(feature = "serde")]
pub(crate) mod config_serde;
pub(crate) mod core;

pub use config::{BudgetConfig, BudgetConfigBuilder, MAX_BUCKETS};

use self::core::BudgetCore;
use ballast_core::{Clock, HotClock, Nanos};
use std::fmt;
use std::sync::Arc;

/// A retry budget: at most a percentage of the request rate, plus a
/// minimum number per second, may be retries, over the window and within
/// each of its buckets. Clones share one budget.
///
/// The default is Finagle's: 20% of requests plus 10 retries a second,
/// over 10 seconds. [`RetryBudget::unlimited`] turns the budget off, and
/// must be chosen explicitly.
///
/// Deposits are lock-free and read the clock only once every few dozen
/// calls; withdrawals (one per retry) take a short lock. Time is a
/// [`HotClock`](ballast_core::HotClock) (tokio's clock when the budget is
/// made while tokio's clock is paused, so such tests control the window); the `*_at`
/// methods take the time instead, in nanoseconds on [`now`](Self::now)'s
/// scale.
///
/// ```
/// use ballast_retry::{BudgetConfig, RetryBudget};
/// use std::time::Duration;
///
/// // 10% of requests, no minimum: 50 requests pay for 5 retries.
/// let budget = RetryBudget::new(
///     BudgetConfig::builder().percent(10.0).min_per_second(0).build()?,
/// );
/// for _ in 0..50 {
///     budget.deposit_at(0);
/// }
/// let granted = (0..20).filter(|_| budget.try_withdraw_at(0)).count();
/// assert_eq!(granted, 5);
/// # Ok::<(), ballast_retry::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    /// `None` when the budget is off.
    inner: Option<Arc<Inner>>,
    /// False for a [`without_deposits`](Self::without_deposits) view.
    deposits: bool,
}

struct Inner {
    core: BudgetCore,
    clock: HotClock,
    config: BudgetConfig,
}

impl RetryBudget {
    /// A budget with `config`, its window starting now.
    pub fn new(config: BudgetConfig) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                core: config.core(),
                clock: HotClock::new(),
                config,
            })),
            deposits: true,
        }
    }

    /// No budget: every retry is allowed (up to the policy's other
    /// limits). Retries can then multiply the load on a failing
    /// dependency by the number of attempts; choose this knowingly.
    pub fn unlimited() -> Self {
        Self {
            inner: None,
            deposits: true,
        }
    }

    /// The same budget, seen by a layer that must not deposit: retries
    /// taken through it draw on the budget as usual, but requests it sees
    /// add nothing.
    ///
    /// For two layers stacked on one dependency that share a budget, such
    /// as a retry layer around a hedging layer: the outer layer sees each
    /// original request once and deposits it; the inner one sees every
    /// attempt of the outer (its retries too), and if it deposited them
    /// the budget would count each request twice and grow with the very
    /// retries it is meant to cap. Give the inner layer's policy this
    /// view.
    ///
    /// ```
    /// use ballast_retry::{BudgetConfig, RetryBudget};
    ///
    /// let budget = RetryBudget::new(BudgetConfig::default());
    /// let inner_view = budget.without_deposits();
    /// budget.deposit_at(0);
    /// inner_view.deposit_at(0); // adds nothing
    /// assert_eq!(budget.deposits_at(0), 1);
    /// assert!(inner_view.try_withdraw_at(0)); // draws on the one budget
    /// ```
    pub fn without_deposits(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            deposits: false,
        }
    }

    /// Original requests counted in the window at `now` ([`now`](Self::now)'s
    /// scale); 0 when unlimited.
    pub fn deposits_at(&self, now: Nanos) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.core.balance(now).deposits)
    }

    /// True for [`unlimited`](Self::unlimited).
    pub fn is_unlimited(&self) -> bool {
        self.inner.is_none()
    }

    /// The budget's settings (`None` when unlimited).
    pub fn config(&self) -> Option<&BudgetConfig> {
        self.inner.as_ref().map(|i| &i.config)
    }

    /// The budget's clock: nanoseconds since it was made, on its
    /// [`HotClock`](ballast_core::HotClock).
    pub fn now(&self) -> Nanos {
        self.inner.as_ref().map_or(0, |i| i.clock.now())
    }

    /// Records one original request (not a retry); nothing for a
    /// [`without_deposits`](Self::without_deposits) view.
    ///
    /// One more on a count striped by thread: a plain load and store on
    /// the calling thread's own stripe (no locked instruction, and threads
    /// on different cores write different cache lines); the clock is read
    /// once every few dozen deposits.
    #[inline]
    pub fn deposit(&self) {
        if let Some(inner) = &self.inner
            && self.deposits
        {
            inner.core.deposit(&inner.clock);
        }
    }

    /// Takes one retry from the budget; false when it is spent.
    pub fn try_withdraw(&self) -> bool {
        match &self.inner {
            Some(inner) => inner.core.try_withdraw(inner.clock.now()),
            None => true,
        }
    }

    /// [`deposit`](Self::deposit) at `now` ([`now`](Self::now)'s scale).
    pub fn deposit_at(&self, now: Nanos) {
        if let Some(inner) = &self.inner
            && self.deposits
        {
            inner.core.deposit_at(now);
        }
    }

    /// [`try_withdraw`](Self::try_withdraw) at `now`.
    pub fn try_withdraw_at(&self, now: Nanos) -> bool {
        match &self.inner {
            Some(inner) => inner.core.try_withdraw(now),
            None => true,
        }
    }

    /// Takes one retry that is given back if the [`Withdrawal`] is dropped
    /// before [`spend`](Withdrawal::spend) (the call was cancelled during
    /// its backoff); `None` when the budget is spent.
    pub(crate) fn withdraw(&self) -> Option<Withdrawal> {
        match &self.inner {
            Some(inner) => {
                let period = inner.core.withdraw(inner.clock.now())?;
                Some(Withdrawal {
                    held: Some((inner.clone(), period)),
                })
            }
            None => Some(Withdrawal { held: None }),
        }
    }

    /// Every deposit ever made (`None` when unlimited).
    pub(crate) fn total_deposits(&self) -> Option<u64> {
        self.inner.as_ref().map(|i| i.core.total_deposits())
    }

    /// How many retries the budget would allow now (`u64::MAX` when
    /// unlimited): the fewer of what the window has left and what the
    /// current bucket may still spend.
    pub fn available(&self) -> u64 {
        self.available_at(self.now())
    }

    /// [`available`](Self::available) at `now`.
    pub fn available_at(&self, now: Nanos) -> u64 {
        match &self.inner {
            Some(inner) => inner.core.balance(now).available,
            None => u64::MAX,
        }
    }
}

impl Default for RetryBudget {
    /// Finagle's default: 20% plus 10 retries a second over 10 seconds.
    fn default() -> Self {
        Self::new(BudgetConfig::default())
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("RetryBudget(unlimited)"),
            Some(inner) => {
                let b = inner.core.balance(inner.clock.now());
                f.debug_struct("RetryBudget")
                    .field("config", &inner.config)
                    .field("deposits", &b.deposits)
                    .field("withdrawals", &b.withdrawals)
                    .field("available", &b.available)
                    .finish()
            }
        }
    }
}

/// A retry taken from a budget and not made yet: dropping it gives the
/// retry back, so a call cancelled during its backoff does not spend the
/// budget; [`spend`](Self::spend) keeps it taken.
pub(crate) struct Withdrawal {
    /// The budget and the period the retry was counted in; `None` for an
    /// unlimited budget (nothing to give back) or once spent.
    held: Option<(Arc<Inner>, u64)>,
}

impl Withdrawal {
    /// The retry is being made: keep it taken.
    pub(crate) fn spend(mut self) {
        self.held = None;
    }
}

impl Drop for Withdrawal {
    fn drop(&mut self) {
        if let Some((inner, period)) = self.held.take() {
            inner.core.refund(period);
        }
    }
}

impl fmt::Debug for Withdrawal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Withdrawal")
            .field("period", &self.held.as_ref().map(|h| h.1))
            .finish()
    }
}

//! [`LoadShedder`]: the shared shedder, its operator handle, and the plain
//! async helper [`LoadShedder::call`].
//!
//! # Implementation notes
//!
//! One `AtomicU64` counts calls in flight. Admission of a call of priority
//! `p` is a CAS loop from `n` to `n + 1`, only while `n` is below `p`'s
//! ceiling (precomputed from the limit and the [`Thresholds`](super::Thresholds)); the
//! release is one `fetch_sub`. Since every ceiling is at most the limit,
//! an enforcing shedder never has more than the limit in flight. Nothing
//! ever waits: a call that finds its ceiling reached is shed at once.
//!
//! In shadow mode the decision is the same CAS loop; a call it would shed
//! is counted as such and admitted "over", in a second counter, so the
//! first keeps the count an enforcing shedder would see.

use super::config::ShedConfig;
use super::layer::LoadShedLayer;
use super::priority::Priority;
use crate::sync::{AtomicU64, CachePadded, Ordering};
use ballast_core::{Reason, Rejected};
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// What every clone of a shedder shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Calls in flight, on a line of its own.
    in_flight: CachePadded<AtomicU64>,
    /// The in-flight count each priority must find to be admitted below,
    /// indexed by `Priority::index`.
    ceilings: [u64; 4],
    /// Calls shed, per priority (or, in shadow mode, that would have been).
    shed: CachePadded<[AtomicU64; 4]>,
    /// Shadow mode: calls admitted although they would have been shed.
    over: CachePadded<AtomicU64>,
    config: ShedConfig,
    /// The series reported through the `metrics` facade.
    #[cfg(feature = "metrics")]
    export: crate::export::Export,
}

/// How an admitted call is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// In the in-flight count the decisions read.
    InFlight,
    /// Shadow mode: over it, as a call an enforcing shedder would have shed.
    Over,
}

impl Shared {
    /// Admits a call of `priority`, or sheds it.
    #[inline]
    pub(crate) fn try_admit(&self, priority: Priority) -> Result<Place, Rejected> {
        let ceiling = self.ceilings[priority.index()];
        // Relaxed: the CAS below validates the value.
        let mut n = self.in_flight.load(Ordering::Relaxed);
        loop {
            if n >= ceiling {
                return self.shed(priority, n);
            }
            // Acquire: pairs with the Release of the call whose finish
            // made room, so its work happens-before ours.
            match self.in_flight.compare_exchange_weak(
                n,
                n + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(Place::InFlight),
                Err(actual) => n = actual,
            }
        }
    }

    /// Sheds a call of `priority` that found `in_flight` calls, or in
    /// shadow mode records that and admits it over the count.
    #[cold]
    fn shed(&self, priority: Priority, in_flight: u64) -> Result<Place, Rejected> {
        // Relaxed: a statistic.
        self.shed[priority.index()].fetch_add(1, Ordering::Relaxed);
        if self.config.shadow {
            // Relaxed: a statistic; decisions never read it.
            self.over.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                shedder = %self.config.name,
                priority = priority.as_str(),
                in_flight,
                "call would have been shed (shadow mode)"
            );
            return Ok(Place::Over);
        }
        tracing::debug!(
            shedder = %self.config.name,
            priority = priority.as_str(),
            in_flight,
            "call shed"
        );
        Err(Rejected::retry_later(Reason::Overloaded))
    }

    /// Gives back an admitted call's place.
    #[inline]
    pub(crate) fn release(&self, place: Place) {
        match place {
            // Release: the call's work happens-before the next admission
            // that reuses its place.
            Place::InFlight => self.in_flight.fetch_sub(1, Ordering::Release),
            // Relaxed: a statistic.
            Place::Over => self.over.fetch_sub(1, Ordering::Relaxed),
        };
    }
}

/// An admitted call's place in flight, given back when dropped.
#[derive(Debug)]
pub(crate) struct ShedPermit {
    shared: Arc<Shared>,
    place: Place,
}

impl ShedPermit {
    /// Admits a call of `priority` on `shared`, or sheds it.
    #[inline]
    pub(crate) fn admit(shared: &Arc<Shared>, priority: Priority) -> Result<Self, Rejected> {
        #[cfg(feature = "metrics")]
        let place = match shared.try_admit(priority) {
            Ok(place) => {
                shared.export.acquired();
                place
            }
            Err(rejected) => {
                shared.export.refused(&rejected);
                return Err(rejected);
            }
        };
        #[cfg(not(feature = "metrics"))]
        let place = shared.try_admit(priority)?;
        Ok(Self {
            shared: shared.clone(),
            place,
        })
    }
}

impl Drop for ShedPermit {
    #[inline]
    fn drop(&mut self) {
        self.shared.release(self.place);
        #[cfg(feature = "metrics")]
        self.shared.export.released();
    }
}

/// A load shedder: when the calls in flight reach a priority's share of
/// the limit, that priority's new calls are refused at once with
/// [`Reason::Overloaded`]; nothing ever queues.
///
/// Use it in front of a dependency (or your own handler) that degrades
/// when overloaded, where an immediate "no" is better than a slow "yes":
/// under pressure, low-priority work is refused first and critical work
/// keeps the last of the capacity. Cloning is cheap and shares the count.
///
/// ```
/// use ballast_bulkhead::shed::{LoadShedder, Priority, ShedConfig};
/// use ballast_bulkhead::Reason;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let shedder = LoadShedder::new(ShedConfig::builder().max_in_flight(1).build().unwrap());
/// let answer = shedder
///     .call(Priority::High, || async {
///         // The only place is taken: a second call is shed at once.
///         let err = shedder.call(Priority::Critical, || async {}).await.unwrap_err();
///         assert_eq!(err.reason(), Reason::Overloaded);
///         42
///     })
///     .await;
/// assert_eq!(answer, Ok(42));
/// assert_eq!(shedder.snapshot().shed, 1);
/// # }
/// ```
#[derive(Clone)]
pub struct LoadShedder {
    pub(crate) shared: Arc<Shared>,
}

/// What a shedder is doing, read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShedSnapshot {
    /// Calls in flight (in shadow mode, possibly above the limit).
    pub in_flight: u64,
    /// The most calls in flight, for critical calls.
    pub limit: u64,
    /// Calls shed so far, of every priority (0 in shadow mode).
    pub shed: u64,
    /// In shadow mode: calls that would have been shed (0 otherwise).
    pub would_have_shed: u64,
    /// Whether the shedder is in shadow mode.
    pub shadow: bool,
    by_priority: [u64; 4],
}

impl ShedSnapshot {
    /// Calls of `priority` shed so far (in shadow mode: that would have
    /// been).
    pub fn shed_of(&self, priority: Priority) -> u64 {
        self.by_priority[priority.index()]
    }
}

impl LoadShedder {
    /// A shedder with `config`.
    pub fn new(config: ShedConfig) -> Self {
        let limit = u64::from(config.max_in_flight);
        let ceilings = Priority::ALL.map(|p| config.thresholds.ceiling(p, limit));
        Self {
            shared: Arc::new(Shared {
                in_flight: CachePadded(AtomicU64::new(0)),
                ceilings,
                shed: CachePadded(Default::default()),
                over: CachePadded(AtomicU64::new(0)),
                #[cfg(feature = "metrics")]
                export: crate::export::Export::new(&config.name, config.max_in_flight),
                config,
            }),
        }
    }

    /// The tower layer that sheds calls to the services it wraps, with
    /// each request's priority read by `priority` (for example from a
    /// header; `|_: &Req| Priority::Normal` to shed without priorities).
    pub fn layer<F>(&self, priority: F) -> LoadShedLayer<F> {
        LoadShedLayer::new(self.clone(), priority)
    }

    /// The config it was built with.
    pub fn config(&self) -> &ShedConfig {
        &self.shared.config
    }

    /// In flight, limit and shed counts now.
    pub fn snapshot(&self) -> ShedSnapshot {
        let s = &self.shared;
        // Relaxed: statistics.
        let by_priority = Priority::ALL.map(|p| s.shed[p.index()].load(Ordering::Relaxed));
        let total = by_priority.iter().sum();
        let shadow = s.config.shadow;
        ShedSnapshot {
            // Relaxed: a statistic.
            in_flight: s.in_flight.load(Ordering::Relaxed) + s.over.load(Ordering::Relaxed),
            limit: u64::from(s.config.max_in_flight),
            shed: if shadow { 0 } else { total },
            would_have_shed: if shadow { total } else { 0 },
            shadow,
            by_priority,
        }
    }

    /// Runs `f()`'s future if a call of `priority` is admitted now, holding
    /// its place until the future finishes or is dropped; else refuses at
    /// once with [`Reason::Overloaded`] without calling `f`.
    pub async fn call<F, Fut>(&self, priority: Priority, f: F) -> Result<Fut::Output, Rejected>
    where
        F: FnOnce() -> Fut,
        Fut: Future,
    {
        let _permit = ShedPermit::admit(&self.shared, priority)?;
        Ok(f().await)
    }
}

impl fmt::Debug for LoadShedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedder")
            .field("name", &self.shared.config.name)
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

//! [`Breaker`]: the shared breaker and the operator's handle to it.

use crate::config::Config;
use crate::core::Core;
use crate::events::StateChange;
use crate::layer::CircuitBreakerLayer;
use crate::metrics::Metrics;
use crate::permit::{Guard, Holder, Permit};
use crate::state::State;
use ballast_core::{Clock, HotClock, Rejected};
use std::fmt;
use std::sync::Arc;

/// The state behind every clone of a [`Breaker`] and every service built
/// from it.
#[derive(Debug)]
pub struct Shared {
    pub(crate) core: Core,
    pub(crate) clock: HotClock,
}

impl Holder for Arc<Shared> {
    #[inline]
    fn shared(&self) -> &Shared {
        self
    }
}

/// A circuit breaker: stops calling a dependency that is failing, and lets
/// it recover.
///
/// `Breaker` is a cheap handle; clones share one breaker. Use it three ways:
/// - as a tower layer: [`Breaker::layer`] (every service it wraps shares
///   this breaker);
/// - as a plain async helper: [`Breaker::call`];
/// - by hand: [`Breaker::try_acquire`] gives a [`Permit`].
///
/// It is also the operator's handle: [`state`](Self::state),
/// [`metrics`](Self::metrics), [`force_open`](Self::force_open),
/// [`force_closed`](Self::force_closed), [`reset`](Self::reset),
/// [`disable`](Self::disable), [`metrics_only`](Self::metrics_only), and
/// [`on_state_change`](Self::on_state_change) for listeners.
///
/// Time is a [`HotClock`](ballast_core::HotClock): the time-stamp
/// counter, or tokio's clock when the breaker is built while tokio's clock
/// is paused, so tests with a paused clock control the breaker exactly.
#[derive(Clone)]
pub struct Breaker {
    pub(crate) shared: Arc<Shared>,
}

impl Holder for Breaker {
    #[inline]
    fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.shared.core.config.name)
            .field("state", &self.state())
            .finish()
    }
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Breaker {
    /// A closed breaker with `config`.
    pub fn new(config: Config) -> Self {
        Self::from_core(Core::new(config))
    }

    /// A breaker around `core` (a plain one, or a key's).
    pub(crate) fn from_core(core: Core) -> Self {
        let automatic = core.config.automatic_half_open;
        let shared = Arc::new(Shared {
            core,
            clock: HotClock::new(),
        });
        let breaker = Breaker { shared };
        if automatic {
            breaker.start_automatic_half_open();
        }
        breaker
    }

    /// A tower layer whose services all share this breaker.
    pub fn layer(&self) -> CircuitBreakerLayer {
        CircuitBreakerLayer::new(self.clone())
    }

    /// Asks to make one call. On `Ok`, make the call and report how it went
    /// on the [`Permit`]; on `Err`, don't call: the [`Rejected`] says why
    /// and when to try again.
    pub fn try_acquire(&self) -> Result<Permit, Rejected> {
        let s = &self.shared;
        let ticket = s.core.try_acquire(&s.clock)?;
        Ok(Permit {
            guard: Guard::new(self.clone(), ticket),
        })
    }

    /// The breaker's configuration.
    pub fn config(&self) -> &Config {
        &self.shared.core.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.shared.core.state()
    }

    /// A snapshot of the window's counts, rates and rejections.
    pub fn metrics(&self) -> Metrics {
        self.shared.core.metrics(self.shared.clock.now())
    }

    /// Rejects every call until another control is used.
    pub fn force_open(&self) {
        self.force(State::ForcedOpen);
    }

    /// Closes the circuit now, with an empty window; it trips again on failures.
    pub fn force_closed(&self) {
        self.force(State::Closed);
    }

    /// Back to a fresh closed breaker: empty window, no trip history.
    pub fn reset(&self) {
        self.shared.core.reset(self.shared.clock.now());
    }

    /// Lets every call through and records nothing.
    pub fn disable(&self) {
        self.force(State::Disabled);
    }

    /// Lets every call through and records outcomes without ever tripping.
    pub fn metrics_only(&self) {
        self.force(State::MetricsOnly);
    }

    fn force(&self, to: State) {
        self.shared.core.force(to, self.shared.clock.now());
    }

    /// Calls `listener` on every state change, in order, on the thread that
    /// made the change. Listeners should be quick; they may call back into
    /// the breaker.
    pub fn on_state_change(&self, listener: impl Fn(&StateChange) + Send + Sync + 'static) {
        self.shared
            .core
            .events
            .subscribe(std::sync::Arc::new(listener));
    }

    /// Makes time-driven transitions happen on time with no call
    /// arriving: open to half-open when the wait ends, half-open to open
    /// at its maximum time, recovering to closed when the ramp is done.
    /// One timer on the current tokio runtime per such stay; without a
    /// runtime at the time of the transition, the move happens on the next
    /// call instead.
    fn start_automatic_half_open(&self) {
        let weak = Arc::downgrade(&self.shared);
        self.on_state_change(move |e| {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            let (Some(due), Ok(rt)) = (
                shared.core.due(e.word),
                tokio::runtime::Handle::try_current(),
            ) else {
                return;
            };
            // The deadline is fixed now, at the transition, not when the
            // task first runs.
            let at = shared.clock.instant(due);
            let (weak, word) = (weak.clone(), e.word);
            rt.spawn(async move {
                tokio::time::sleep_until(at).await;
                if let Some(shared) = weak.upgrade() {
                    shared.core.tick(word, shared.clock.now());
                }
            });
        });
    }
}

//! The breaker's states and how they pack into one atomic word.
//!
//! The state word is `generation << 3 | state`. Every transition stores a
//! new word with the generation increased by one, so a word names one
//! stay in one state: a permit remembers the word it was admitted under and
//! its outcome is ignored if the breaker has moved on, and two callers that
//! race to make the same transition compare against the same word, so
//! exactly one of them makes it.

use std::fmt;

/// Where a circuit breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum State {
    /// Calls flow and their outcomes are recorded in the sliding window.
    Closed,
    /// Calls are rejected until the open wait has passed.
    Open,
    /// A fixed number of probe calls are let through to test the dependency.
    HalfOpen,
    /// The probes succeeded and admitted traffic is ramping back up to all
    /// calls (only with gradual recovery configured).
    Recovering,
    /// The breaker is switched off: every call passes, nothing is recorded.
    Disabled,
    /// An operator forced the circuit open: every call is rejected until an
    /// operator changes it.
    ForcedOpen,
    /// Every call passes and outcomes are recorded, but the circuit never
    /// trips: for watching what a breaker would do before enforcing it.
    MetricsOnly,
}

impl State {
    const ALL: [State; 7] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::Recovering,
        State::Disabled,
        State::ForcedOpen,
        State::MetricsOnly,
    ];

    /// A lowercase name, as used in events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::Recovering => "recovering",
            State::Disabled => "disabled",
            State::ForcedOpen => "forced_open",
            State::MetricsOnly => "metrics_only",
        }
    }

    /// True when this state lets every call through.
    pub fn admits_all(self) -> bool {
        matches!(self, State::Closed | State::Disabled | State::MetricsOnly)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The packed state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    pub(crate) const INITIAL: Word = Word(State::Closed as u64);

    #[inline]
    pub(crate) fn state(self) -> State {
        State::ALL[(self.0 & 0b111) as usize]
    }

    /// True when outcomes under this word go to the sliding window
    /// (closed or metrics-only): the closed path's test, without decoding.
    #[inline]
    pub(crate) fn is_windowed(self) -> bool {
        let bits = self.0 & 0b111;
        bits == State::Closed as u64 || bits == State::MetricsOnly as u64
    }

    #[inline]
    pub(crate) fn generation(self) -> u64 {
        self.0 >> 3
    }

    /// The word for entering `to` from this word.
    pub(crate) fn next(self, to: State) -> Word {
        Word(((self.generation() + 1) << 3) | to as u64)
    }

    /// The low 16 bits of the generation: the tag that per-state counters
    /// carry, so a stale permit cannot touch the counters of a later stay.
    pub(crate) fn tag(self) -> u64 {
        self.generation() & 0xFFFF
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_word_bumps_generation_and_sets_state() {
        let w = Word::INITIAL;
        assert_eq!(w.state(), State::Closed);
        let w2 = w.next(State::Open);
        assert_eq!(w2.state(), State::Open);
        assert_eq!(w2.generation(), 1);
        for s in State::ALL {
            assert_eq!(w2.next(s).state(), s);
        }
    }
}

//! What a step's action receives ([`StepContext`]) and returns on failure
//! ([`StepError`]), and the rule for a step whose outcome is unknown
//! ([`OnUnknown`]).

use crate::SagaId;
use ballast_outbox::Message;
use std::fmt;
use std::sync::Arc;

/// The messages one attempt sent, kept until its outcome is logged.
pub(crate) type Outgoing = Arc<parking_lot::Mutex<Vec<Message>>>;

/// What an action or a compensation is given: the saga's state and who is
/// calling, with the idempotency key to pass to the service it calls.
#[derive(Debug, Clone)]
pub struct StepContext<S> {
    pub(crate) state: S,
    pub(crate) saga_id: SagaId,
    pub(crate) step: Arc<str>,
    pub(crate) attempt: u32,
    pub(crate) key: String,
    pub(crate) outgoing: Outgoing,
}

impl<S> StepContext<S> {
    /// Sends `message` through the executor's outbox
    /// ([`ExecutorBuilder::outbox`](crate::ExecutorBuilder::outbox)) in
    /// the same transaction as this attempt's outcome: it is enqueued if
    /// and only if the step's `step_succeeded` entry (a compensation's
    /// `compensated` entry) commits. Messages of an attempt that fails,
    /// times out or is cut off are dropped; a retry sends its own. A step
    /// that sends messages on an executor without an outbox is paused
    /// (for an action) or fails (for a compensation), as is one whose
    /// message the outbox refuses (over a limit).
    pub fn send(&self, message: Message) {
        self.outgoing.lock().push(message);
    }

    /// The saga's state as the previous step left it.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Takes the state, to return an updated copy.
    pub fn into_state(self) -> S {
        self.state
    }

    /// The saga.
    pub fn saga_id(&self) -> SagaId {
        self.saga_id
    }

    /// The step's name.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// Which attempt this is, from 1, counted from the log: attempts made
    /// before a crash count too.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// `"{saga_id}/{step}"` for an action, `"{saga_id}/{step}/compensate"`
    /// for a compensation: the same on every attempt and after a crash, so
    /// a service that deduplicates by it applies the effect once.
    pub fn idempotency_key(&self) -> &str {
        &self.key
    }
}

/// What to do about a failed action or compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepErrorKind {
    /// Try again per the step's retry policy.
    Transient,
    /// Fail the step now and compensate (before the pivot).
    Compensate,
    /// Stop the saga for an operator.
    Pause,
    /// The call may or may not have taken effect (the request was sent and
    /// no answer came in time): the step's [`OnUnknown`] rule decides, as
    /// for an attempt that timed out.
    Unknown,
}

impl StepErrorKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StepErrorKind::Transient => "transient",
            StepErrorKind::Compensate => "compensate",
            StepErrorKind::Pause => "pause",
            StepErrorKind::Unknown => "unknown",
        }
    }

    /// Reads back what [`as_str`](Self::as_str) wrote to the log.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "transient" => StepErrorKind::Transient,
            "compensate" => StepErrorKind::Compensate,
            "pause" => StepErrorKind::Pause,
            "unknown" => StepErrorKind::Unknown,
            _ => return None,
        })
    }
}

/// An action's or a compensation's failure, saying what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    kind: StepErrorKind,
    message: String,
}

impl StepError {
    /// A failure worth another try that did not take effect (the service
    /// was unavailable, refused before acting, or answered "try later").
    /// When the call may have applied, say [`unknown`](Self::unknown).
    pub fn transient(message: impl fmt::Display) -> Self {
        Self::new(StepErrorKind::Transient, message)
    }

    /// A failure no retry will fix (a refusal): before the pivot the saga
    /// compensates at once; after it, the saga is paused for an operator.
    pub fn compensate(message: impl fmt::Display) -> Self {
        Self::new(StepErrorKind::Compensate, message)
    }

    /// A failure only a person can resolve: the saga is paused.
    pub fn pause(message: impl fmt::Display) -> Self {
        Self::new(StepErrorKind::Pause, message)
    }

    /// The call may have taken effect: it was sent and no answer came in
    /// time (a client-side deadline passed, a connection dropped after the
    /// request was written). The step's [`OnUnknown`] rule decides, as for
    /// an attempt the executor timed out: run again with the same
    /// idempotency key, or compensate. Unlike [`transient`](Self::transient),
    /// which says the call did not apply, a step that ends out of attempts
    /// after an unknown one is compensated too. In a compensation it is
    /// retried as any failure is.
    pub fn unknown(message: impl fmt::Display) -> Self {
        Self::new(StepErrorKind::Unknown, message)
    }

    fn new(kind: StepErrorKind, message: impl fmt::Display) -> Self {
        Self {
            kind,
            message: message.to_string(),
        }
    }

    /// What to do.
    pub fn kind(&self) -> StepErrorKind {
        self.kind
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.as_str())
    }
}

impl std::error::Error for StepError {}

/// What to do with a step whose outcome is unknown: its attempt timed out,
/// or its executor died while it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnUnknown {
    /// Run the action again with the same idempotency key (the default).
    /// Steps after the pivot always do this.
    #[default]
    RunAgain,
    /// Treat the step as possibly done: compensate it and the steps before
    /// it. Only before the pivot, and only for a step with a compensation.
    Compensate,
}

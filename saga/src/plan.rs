//! What to do next, decided from a saga's log: a pure state machine with no
//! clock reads (`now` comes in), no database and no tokio, so every path is
//! unit-tested directly. Recovery and the live executor share it: the
//! executor folds each entry it appends into the same [`Position`] that a
//! recovering executor rebuilds from the whole log.

use crate::operator::Decision;
use crate::saga::Kind;
use crate::step::{OnUnknown, StepErrorKind};
use serde_json::Value;

/// What the plan needs to know about a definition.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub steps: Vec<StepShape>,
    pub pivot: Option<usize>,
    /// Attempts of one compensation before the saga is stuck.
    pub compensation_attempts: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct StepShape {
    pub compensable: bool,
    pub on_unknown: OnUnknown,
    pub max_attempts: u32,
}

impl Shape {
    pub fn of(def: &crate::definition::Erased, compensation_attempts: u32) -> Shape {
        Shape {
            steps: def
                .steps
                .iter()
                .map(|s| StepShape {
                    compensable: s.compensation.is_some(),
                    on_unknown: s.on_unknown,
                    max_attempts: s.retry.max_attempts(),
                })
                .collect(),
            pivot: def.pivot,
            compensation_attempts,
        }
    }

    /// Whether step `i` runs after the pivot (forward only).
    fn forward_only(&self, i: usize) -> bool {
        self.pivot.is_some_and(|p| i > p)
    }
}

/// How a failed attempt ended, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The action said so.
    Step(StepErrorKind),
    /// It timed out: the outcome is unknown.
    Unknown,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Step(k) => k.as_str(),
            Failure::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Failure> {
        Some(match s {
            "transient" => Failure::Step(StepErrorKind::Transient),
            "compensate" => Failure::Step(StepErrorKind::Compensate),
            "pause" => Failure::Step(StepErrorKind::Pause),
            "unknown" => Failure::Unknown,
            _ => return None,
        })
    }
}

/// A log entry as the plan reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub kind: Kind,
    pub step: Option<usize>,
    pub state: Option<Value>,
    pub failure: Option<Failure>,
    /// What an operator decided (an `operator_decision` entry).
    pub decision: Option<Decision>,
}

impl Record {
    pub fn new(kind: Kind) -> Record {
        Record {
            kind,
            step: None,
            state: None,
            failure: None,
            decision: None,
        }
    }

    #[cfg(test)]
    pub fn decision(mut self, d: Decision) -> Record {
        self.decision = Some(d);
        self
    }

    pub fn step(mut self, i: usize) -> Record {
        self.step = Some(i);
        self
    }

    pub fn state(mut self, state: Value) -> Record {
        self.state = Some(state);
        self
    }

    pub fn failure(mut self, f: Failure) -> Record {
        self.failure = Some(f);
        self
    }
}

/// Where a saga is, folded from its log.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Position {
    pub state: Value,
    /// Ended (completed, compensated, stuck or paused): nothing to do.
    pub ended: bool,
    pub compensating: bool,
    /// Forward: the first step not yet succeeded.
    pub next: usize,
    /// Attempts of `next` so far (its `step_started` entries).
    pub attempts: u32,
    /// The last attempt of `next` has no outcome in the log.
    pub open: bool,
    /// How the last attempt of `next` failed, if it did.
    pub failed: Option<Failure>,
    pub succeeded: Vec<bool>,
    /// A step whose unknown outcome is compensated too.
    pub also: Option<usize>,
    pub compensated: Vec<bool>,
    /// Attempts of the compensation in progress.
    pub comp_attempts: u32,
    pub comp_step: Option<usize>,
}

impl Position {
    pub fn new(steps: usize, state: Value) -> Position {
        Position {
            state,
            ended: false,
            compensating: false,
            next: 0,
            attempts: 0,
            open: false,
            failed: None,
            succeeded: vec![false; steps],
            also: None,
            compensated: vec![false; steps],
            comp_attempts: 0,
            comp_step: None,
        }
    }

    /// Rebuilds the position from a whole log (its first entry is
    /// `started`, with the initial state).
    pub fn replay(steps: usize, log: &[Record]) -> Position {
        let initial = log
            .first()
            .and_then(|r| r.state.clone())
            .unwrap_or(Value::Null);
        let mut p = Position::new(steps, initial);
        for r in log {
            p.apply(r);
        }
        p
    }

    /// Folds one entry in.
    pub fn apply(&mut self, r: &Record) {
        if let Some(s) = &r.state {
            self.state = s.clone();
        }
        match r.kind {
            Kind::Started => {}
            Kind::OperatorDecision => match r.decision {
                // The stuck compensation gets its attempts afresh.
                Some(Decision::RetryCompensation) => {
                    self.ended = false;
                    self.comp_step = None;
                    self.comp_attempts = 0;
                }
                // The step that paused (or the open attempt) runs again,
                // with the same idempotency key; its attempts so far count.
                Some(Decision::Resume) => {
                    self.ended = false;
                    self.failed = None;
                }
                // Mark compensated and abort end the saga for good.
                Some(Decision::MarkCompensated | Decision::Abort) | None => {}
            },
            Kind::StepStarted => {
                self.attempts += 1;
                self.open = true;
                self.failed = None;
            }
            Kind::StepSucceeded => {
                if let Some(i) = r.step {
                    self.succeeded[i] = true;
                    self.next = i + 1;
                }
                self.attempts = 0;
                self.open = false;
                self.failed = None;
            }
            Kind::StepFailed => {
                self.open = false;
                self.failed = r.failure;
            }
            Kind::Compensating => {
                self.compensating = true;
                self.open = false;
                self.also = r.step;
            }
            Kind::CompensationStarted => {
                if self.comp_step != r.step {
                    self.comp_step = r.step;
                    self.comp_attempts = 0;
                }
                self.comp_attempts += 1;
            }
            Kind::Compensated => {
                if let Some(i) = r.step {
                    self.compensated[i] = true;
                }
                self.comp_step = None;
                self.comp_attempts = 0;
            }
            Kind::CompensationFailed => {}
            Kind::Completed | Kind::SagaCompensated | Kind::Stuck | Kind::Paused => {
                self.ended = true;
            }
        }
    }

    /// Whether the pivot has started (never, without a pivot): from then
    /// on the saga only goes forward.
    pub fn past_pivot(&self, shape: &Shape) -> bool {
        match shape.pivot {
            Some(p) => self.next > p || (self.next == p && self.attempts > 0),
            None => false,
        }
    }
}

/// Why a saga turns to compensating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Why {
    Cancelled,
    DeadlinePassed,
    StepFailed { step: usize, attempts: u32 },
    StepRefused { step: usize },
    OutcomeUnknown { step: usize },
}

/// The next thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Attempt `attempt` (from 1) of step `step`; `retry` failed attempts
    /// came before it (0: no backoff).
    Run {
        step: usize,
        attempt: u32,
        retry: u32,
    },
    /// Turn to compensating, compensating `also` too.
    Compensate {
        also: Option<usize>,
        why: Why,
    },
    /// Attempt `attempt` of step `step`'s compensation.
    Undo {
        step: usize,
        attempt: u32,
    },
    /// A step asked to compensate after the pivot: only a person can help.
    Pause {
        step: usize,
    },
    /// A compensation failed past the limit.
    Stuck {
        step: usize,
    },
    Complete,
    Compensated,
    /// Nothing: the saga has ended.
    Nothing,
}

/// Decides what to do next. `now_ms` and `deadline_ms` (the saga's own
/// deadline, which bounds it until the pivot starts) are Unix milliseconds.
pub(crate) fn decide(
    shape: &Shape,
    p: &Position,
    cancel_requested: bool,
    now_ms: i64,
    deadline_ms: Option<i64>,
) -> Next {
    if p.ended {
        return Next::Nothing;
    }
    if p.compensating {
        return undo_next(shape, p);
    }
    let i = p.next;
    if i >= shape.steps.len() {
        return Next::Complete;
    }
    let step = &shape.steps[i];
    let forward_only = shape.forward_only(i);
    // An attempt with no outcome: its executor died while it ran.
    if p.open && !forward_only && step.on_unknown == OnUnknown::Compensate {
        return Next::Compensate {
            also: Some(i),
            why: Why::OutcomeUnknown { step: i },
        };
    }
    if !p.past_pivot(shape) {
        // The last attempt may have taken effect if it has no outcome or
        // timed out: compensate it too (a compensation must cope with an
        // action that never applied; the idempotency key tells).
        let maybe = p.open || p.failed == Some(Failure::Unknown);
        let also = (maybe && step.compensable).then_some(i);
        if cancel_requested {
            return Next::Compensate {
                also,
                why: Why::Cancelled,
            };
        }
        if deadline_ms.is_some_and(|d| now_ms >= d) {
            return Next::Compensate {
                also,
                why: Why::DeadlinePassed,
            };
        }
    }
    match p.failed {
        // A first attempt, or one again after an attempt left open by a
        // crash (run again: the same idempotency key).
        None => Next::Run {
            step: i,
            attempt: p.attempts + 1,
            retry: p.attempts,
        },
        Some(Failure::Step(StepErrorKind::Pause)) => Next::Pause { step: i },
        Some(Failure::Step(StepErrorKind::Compensate)) if forward_only => Next::Pause { step: i },
        Some(Failure::Step(StepErrorKind::Compensate)) => Next::Compensate {
            also: None,
            why: Why::StepRefused { step: i },
        },
        Some(Failure::Unknown) if !forward_only && step.on_unknown == OnUnknown::Compensate => {
            Next::Compensate {
                also: Some(i),
                why: Why::OutcomeUnknown { step: i },
            }
        }
        Some(f) => {
            if forward_only || p.attempts < step.max_attempts {
                Next::Run {
                    step: i,
                    attempt: p.attempts + 1,
                    retry: p.attempts,
                }
            } else {
                // An attempt that timed out may have taken effect.
                let also = (f == Failure::Unknown && step.compensable).then_some(i);
                Next::Compensate {
                    also,
                    why: Why::StepFailed {
                        step: i,
                        attempts: p.attempts,
                    },
                }
            }
        }
    }
}

fn undo_next(shape: &Shape, p: &Position) -> Next {
    let target = (0..shape.steps.len()).rev().find(|&i| {
        shape.steps[i].compensable && (p.succeeded[i] || p.also == Some(i)) && !p.compensated[i]
    });
    let Some(step) = target else {
        return Next::Compensated;
    };
    let attempts = if p.comp_step == Some(step) {
        p.comp_attempts
    } else {
        0
    };
    if attempts >= shape.compensation_attempts {
        return Next::Stuck { step };
    }
    Next::Undo {
        step,
        attempt: attempts + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Four steps, the third the pivot, three attempts each, two per
    /// compensation.
    fn shape() -> Shape {
        let s = |compensable| StepShape {
            compensable,
            on_unknown: OnUnknown::RunAgain,
            max_attempts: 3,
        };
        Shape {
            steps: vec![s(true), s(true), s(false), s(false)],
            pivot: Some(2),
            compensation_attempts: 2,
        }
    }

    fn at(log: &[Record]) -> Position {
        Position::replay(4, log)
    }

    fn started() -> Record {
        Record::new(Kind::Started).state(json!(0))
    }

    fn ok(i: usize, state: i64) -> [Record; 2] {
        [
            Record::new(Kind::StepStarted).step(i),
            Record::new(Kind::StepSucceeded).step(i).state(json!(state)),
        ]
    }

    fn decide_now(shape: &Shape, log: &[Record]) -> Next {
        decide(shape, &at(log), false, 0, None)
    }

    #[test]
    fn a_new_saga_runs_its_first_step() {
        assert_eq!(
            decide_now(&shape(), &[started()]),
            Next::Run {
                step: 0,
                attempt: 1,
                retry: 0
            }
        );
    }

    #[test]
    fn the_state_is_the_last_logged_one() {
        let mut log = vec![started()];
        log.extend(ok(0, 5));
        log.extend(ok(1, 7));
        let p = at(&log);
        assert_eq!(p.state, json!(7));
        assert_eq!(p.next, 2);
    }

    #[test]
    fn all_steps_done_completes() {
        let mut log = vec![started()];
        for i in 0..4 {
            log.extend(ok(i, i as i64));
        }
        assert_eq!(decide_now(&shape(), &log), Next::Complete);
        log.push(Record::new(Kind::Completed));
        assert_eq!(decide_now(&shape(), &log), Next::Nothing);
    }

    #[test]
    fn a_transient_failure_is_retried_then_compensated_at_the_limit() {
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        let fail = || {
            [
                Record::new(Kind::StepStarted).step(1),
                Record::new(Kind::StepFailed)
                    .step(1)
                    .failure(Failure::Step(StepErrorKind::Transient)),
            ]
        };
        log.extend(fail());
        assert_eq!(
            decide_now(&shape(), &log),
            Next::Run {
                step: 1,
                attempt: 2,
                retry: 1
            }
        );
        log.extend(fail());
        log.extend(fail());
        assert_eq!(
            decide_now(&shape(), &log),
            Next::Compensate {
                also: None,
                why: Why::StepFailed {
                    step: 1,
                    attempts: 3
                }
            }
        );
    }

    #[test]
    fn compensation_runs_the_completed_steps_in_reverse_each_once() {
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        log.extend(ok(1, 2));
        log.push(Record::new(Kind::Compensating));
        let s = shape();
        assert_eq!(
            decide_now(&s, &log),
            Next::Undo {
                step: 1,
                attempt: 1
            }
        );
        log.push(Record::new(Kind::CompensationStarted).step(1));
        log.push(Record::new(Kind::Compensated).step(1));
        assert_eq!(
            decide_now(&s, &log),
            Next::Undo {
                step: 0,
                attempt: 1
            }
        );
        log.push(Record::new(Kind::CompensationStarted).step(0));
        log.push(Record::new(Kind::Compensated).step(0));
        assert_eq!(decide_now(&s, &log), Next::Compensated);
    }

    #[test]
    fn a_compensation_failing_past_the_limit_is_stuck() {
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        log.push(Record::new(Kind::Compensating));
        for _ in 0..2 {
            log.push(Record::new(Kind::CompensationStarted).step(0));
            log.push(Record::new(Kind::CompensationFailed).step(0));
        }
        assert_eq!(decide_now(&shape(), &log), Next::Stuck { step: 0 });
    }

    #[test]
    fn after_the_pivot_a_failing_step_is_retried_past_its_attempts() {
        let mut log = vec![started()];
        for i in 0..3 {
            log.extend(ok(i, 1));
        }
        for _ in 0..10 {
            log.push(Record::new(Kind::StepStarted).step(3));
            log.push(
                Record::new(Kind::StepFailed)
                    .step(3)
                    .failure(Failure::Step(StepErrorKind::Transient)),
            );
        }
        assert_eq!(
            decide_now(&shape(), &log),
            Next::Run {
                step: 3,
                attempt: 11,
                retry: 10
            }
        );
    }

    #[test]
    fn a_refusal_after_the_pivot_pauses_instead_of_compensating() {
        let mut log = vec![started()];
        for i in 0..3 {
            log.extend(ok(i, 1));
        }
        log.push(Record::new(Kind::StepStarted).step(3));
        log.push(
            Record::new(Kind::StepFailed)
                .step(3)
                .failure(Failure::Step(StepErrorKind::Compensate)),
        );
        assert_eq!(decide_now(&shape(), &log), Next::Pause { step: 3 });
    }

    #[test]
    fn an_open_attempt_runs_again_under_run_again() {
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        log.push(Record::new(Kind::StepStarted).step(1));
        assert_eq!(
            decide_now(&shape(), &log),
            Next::Run {
                step: 1,
                attempt: 2,
                retry: 1
            }
        );
    }

    #[test]
    fn an_open_attempt_is_compensated_too_under_compensate() {
        let mut s = shape();
        s.steps[1].on_unknown = OnUnknown::Compensate;
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        log.push(Record::new(Kind::StepStarted).step(1));
        assert_eq!(
            decide_now(&s, &log),
            Next::Compensate {
                also: Some(1),
                why: Why::OutcomeUnknown { step: 1 }
            }
        );
        log.push(Record::new(Kind::Compensating).step(1));
        assert_eq!(
            decide_now(&s, &log),
            Next::Undo {
                step: 1,
                attempt: 1
            }
        );
    }

    #[test]
    fn cancel_and_deadline_compensate_before_the_pivot_only() {
        let s = shape();
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        let p = at(&log);
        let comp = |why| Next::Compensate { also: None, why };
        assert_eq!(decide(&s, &p, true, 0, None), comp(Why::Cancelled));
        assert_eq!(
            decide(&s, &p, false, 10, Some(10)),
            comp(Why::DeadlinePassed)
        );
        assert!(matches!(
            decide(&s, &p, false, 9, Some(10)),
            Next::Run { .. }
        ));
        log.extend(ok(1, 2));
        log.push(Record::new(Kind::StepStarted).step(2));
        let p = at(&log);
        assert!(p.past_pivot(&s));
        assert!(matches!(
            decide(&s, &p, true, 10, Some(10)),
            Next::Run { step: 2, .. }
        ));
    }

    #[test]
    fn a_deadline_passing_after_a_timed_out_attempt_compensates_that_step_too() {
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        log.push(Record::new(Kind::StepStarted).step(1));
        log.push(
            Record::new(Kind::StepFailed)
                .step(1)
                .failure(Failure::Unknown),
        );
        assert_eq!(
            decide(&shape(), &at(&log), false, 5, Some(5)),
            Next::Compensate {
                also: Some(1),
                why: Why::DeadlinePassed
            }
        );
    }

    #[test]
    fn a_timed_out_step_that_failed_for_good_is_compensated_too() {
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        for _ in 0..3 {
            log.push(Record::new(Kind::StepStarted).step(1));
            log.push(
                Record::new(Kind::StepFailed)
                    .step(1)
                    .failure(Failure::Unknown),
            );
        }
        assert_eq!(
            decide_now(&shape(), &log),
            Next::Compensate {
                also: Some(1),
                why: Why::StepFailed {
                    step: 1,
                    attempts: 3
                }
            }
        );
    }

    #[test]
    fn a_retried_stuck_compensation_gets_its_attempts_afresh() {
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        log.push(Record::new(Kind::Compensating));
        for _ in 0..2 {
            log.push(Record::new(Kind::CompensationStarted).step(0));
            log.push(Record::new(Kind::CompensationFailed).step(0));
        }
        assert_eq!(decide_now(&shape(), &log), Next::Stuck { step: 0 });
        log.push(Record::new(Kind::Stuck));
        assert_eq!(decide_now(&shape(), &log), Next::Nothing);
        log.push(Record::new(Kind::OperatorDecision).decision(Decision::RetryCompensation));
        assert_eq!(
            decide_now(&shape(), &log),
            Next::Undo {
                step: 0,
                attempt: 1
            }
        );
    }

    #[test]
    fn a_resumed_pause_runs_the_step_again_and_a_final_decision_does_nothing() {
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        log.extend(ok(1, 2));
        log.extend(ok(2, 3));
        log.push(Record::new(Kind::StepStarted).step(3));
        log.push(
            Record::new(Kind::StepFailed)
                .step(3)
                .failure(Failure::Step(StepErrorKind::Compensate)),
        );
        assert_eq!(decide_now(&shape(), &log), Next::Pause { step: 3 });
        log.push(Record::new(Kind::Paused));
        let mut aborted = log.clone();
        aborted.push(Record::new(Kind::OperatorDecision).decision(Decision::Abort));
        assert_eq!(decide_now(&shape(), &aborted), Next::Nothing);
        log.push(Record::new(Kind::OperatorDecision).decision(Decision::Resume));
        assert_eq!(
            decide_now(&shape(), &log),
            Next::Run {
                step: 3,
                attempt: 2,
                retry: 1
            }
        );
    }
}

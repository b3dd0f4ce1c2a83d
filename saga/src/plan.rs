//! What to do next, decided from a saga's log: a pure state machine with no
//! clock reads (`now` comes in), no database and no tokio, so every path is
//! unit-tested directly. Recovery and the live executor share it: the
//! executor folds each entry it appends into the same [`Position`] that a
//! recovering executor rebuilds from the whole log.
//!
//! A definition is a sequence of units: a single step, or a parallel group
//! of steps. The plan looks at the first unit not yet done; within a group
//! it hands out every step that can start (the runner passes the steps it
//! has in flight), and stops the whole group at the first step that fails
//! for good. When compensating, group steps whose outcome is unknown
//! (cancelled with their group, or cut off by a crash) are settled first by
//! their rule: run again with the same key until the outcome is known, or
//! taken as done; then everything that (maybe) took effect is undone in
//! reverse step order.

use crate::operator::Decision;
use crate::saga::Kind;
use crate::step::{OnUnknown, StepErrorKind};
use serde_json::Value;
use std::ops::Range;

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
    /// The parallel group the step belongs to, if any.
    pub group: Option<usize>,
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
                    group: s.group.as_ref().map(|(g, _)| *g),
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

    /// The unit step `i` belongs to: itself, or its whole group (a group's
    /// steps are next to each other).
    pub fn unit(&self, i: usize) -> Range<usize> {
        let Some(g) = self.steps[i].group else {
            return i..i + 1;
        };
        let same = |j: &usize| self.steps[*j].group == Some(g);
        let start = (0..=i).rev().take_while(same).last().unwrap_or(i);
        let end = (i..self.steps.len()).take_while(same).last().unwrap_or(i) + 1;
        start..end
    }
}

/// A log entry as the plan reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub kind: Kind,
    pub step: Option<usize>,
    pub state: Option<Value>,
    pub failure: Option<StepErrorKind>,
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

    pub fn failure(mut self, f: StepErrorKind) -> Record {
        self.failure = Some(f);
        self
    }
}

/// Where a saga is, folded from its log.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Position {
    pub state: Value,
    /// The state the current unit started from: what each step of a
    /// parallel group receives.
    pub base: Value,
    /// Each step's group, to tell when a group is done.
    groups: Vec<Option<usize>>,
    /// Ended (completed, compensated, stuck or paused): nothing to do.
    pub ended: bool,
    pub compensating: bool,
    /// Attempts of each step so far (its `step_started` entries).
    pub attempts: Vec<u32>,
    /// The last attempt of the step has no outcome in the log.
    pub open: Vec<bool>,
    /// How the last attempt of the step failed, if it did.
    pub failed: Vec<Option<StepErrorKind>>,
    /// An earlier attempt of the step may have taken effect: it timed
    /// out, or had no outcome when the next one started. A later attempt
    /// failing transiently says nothing about it (the key is the same); one
    /// refused for good does.
    pub unknown_before: Vec<bool>,
    pub succeeded: Vec<bool>,
    /// A step whose unknown outcome is compensated too.
    pub also: Option<usize>,
    pub compensated: Vec<bool>,
    /// Attempts of the compensation in progress.
    pub comp_attempts: u32,
    pub comp_step: Option<usize>,
}

impl Position {
    pub fn new(shape: &Shape, state: Value) -> Position {
        let n = shape.steps.len();
        Position {
            base: state.clone(),
            state,
            groups: shape.steps.iter().map(|s| s.group).collect(),
            ended: false,
            compensating: false,
            attempts: vec![0; n],
            open: vec![false; n],
            failed: vec![None; n],
            unknown_before: vec![false; n],
            succeeded: vec![false; n],
            also: None,
            compensated: vec![false; n],
            comp_attempts: 0,
            comp_step: None,
        }
    }

    /// Rebuilds the position from a whole log (its first entry is
    /// `started`, with the initial state).
    pub fn replay(shape: &Shape, log: &[Record]) -> Position {
        let initial = log
            .first()
            .and_then(|r| r.state.clone())
            .unwrap_or(Value::Null);
        let mut p = Position::new(shape, initial);
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
            Kind::Started => self.base = self.state.clone(),
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
                    for f in &mut self.failed {
                        if let Some(StepErrorKind::Pause | StepErrorKind::Compensate) = f {
                            *f = None;
                        }
                    }
                }
                // Mark compensated and abort end the saga for good.
                Some(Decision::MarkCompensated | Decision::Abort) | None => {}
            },
            Kind::StepStarted => {
                if let Some(i) = r.step {
                    if self.maybe_done(i) {
                        self.unknown_before[i] = true;
                    }
                    self.attempts[i] += 1;
                    self.open[i] = true;
                    self.failed[i] = None;
                }
            }
            Kind::StepSucceeded => {
                if let Some(i) = r.step {
                    self.succeeded[i] = true;
                    self.open[i] = false;
                    self.failed[i] = None;
                    let group_done = match self.groups[i] {
                        None => true,
                        Some(g) => (0..self.groups.len())
                            .all(|j| self.groups[j] != Some(g) || self.succeeded[j]),
                    };
                    if group_done {
                        self.base = self.state.clone();
                    }
                }
            }
            Kind::StepFailed => {
                if let Some(i) = r.step {
                    self.open[i] = false;
                    self.failed[i] = r.failure;
                    // A refusal for good answers for the key: the service
                    // would have answered an applied key with its result.
                    if r.failure == Some(StepErrorKind::Compensate) {
                        self.unknown_before[i] = false;
                    }
                }
            }
            Kind::Compensating => {
                self.compensating = true;
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
            Some(p) => self.succeeded[p] || self.attempts[p] > 0,
            None => false,
        }
    }

    /// Whether an attempt of step `i` may have taken effect without the
    /// log saying so: the last has no outcome or timed out, or an earlier
    /// one did.
    fn maybe_done(&self, i: usize) -> bool {
        self.open[i] || self.failed[i] == Some(StepErrorKind::Unknown) || self.unknown_before[i]
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
    /// Nothing can start until a step in flight ends.
    Wait,
    /// Turn to compensating, compensating `also` too (the steps in flight
    /// are cancelled first).
    Compensate {
        also: Option<usize>,
        why: Why,
    },
    /// Attempt `attempt` of step `step`'s compensation.
    Undo {
        step: usize,
        attempt: u32,
    },
    /// A step asked for an operator, or to compensate after the pivot:
    /// only a person can help.
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

/// Decides what to do next. `running` are the steps the runner has in
/// flight (an action running, or waiting out its backoff); a step of the
/// log that is open but not running was cut off (a crash, or cancelled
/// with its group). `now_ms` and `deadline_ms` (the saga's own deadline,
/// which bounds it until the pivot starts) are Unix milliseconds.
pub(crate) fn decide(
    shape: &Shape,
    p: &Position,
    running: &[usize],
    cancel_requested: bool,
    now_ms: i64,
    deadline_ms: Option<i64>,
) -> Next {
    if p.ended {
        return Next::Nothing;
    }
    if p.compensating {
        return undo_next(shape, p, running);
    }
    let Some(first) = (0..shape.steps.len()).find(|&i| !p.succeeded[i]) else {
        return Next::Complete;
    };
    let unit = shape.unit(first);
    let stop = cancel_requested || deadline_ms.is_some_and(|d| now_ms >= d);
    if stop && !p.past_pivot(shape) {
        // Steps in flight end first (a group's siblings each have their
        // time bounded by the deadline); nothing new starts.
        if !running.is_empty() {
            return Next::Wait;
        }
        // The last attempt of a single step may have taken effect if it
        // has no outcome or timed out: compensate it too (a compensation
        // must cope with an action that never applied; the key tells).
        // A group's steps are settled by their rule when compensating.
        let also = (unit.len() == 1 && p.maybe_done(first) && shape.steps[first].compensable)
            .then_some(first);
        let why = if cancel_requested {
            Why::Cancelled
        } else {
            Why::DeadlinePassed
        };
        return Next::Compensate { also, why };
    }
    let mut run = None;
    for i in unit {
        if p.succeeded[i] || running.contains(&i) {
            continue;
        }
        match verdict(shape, p, i) {
            r @ Next::Run { .. } => {
                run.get_or_insert(r);
            }
            // One step failing for good stops its whole group.
            other => return other,
        }
    }
    run.unwrap_or(Next::Wait)
}

/// What to do about step `i`, not running and not yet succeeded.
fn verdict(shape: &Shape, p: &Position, i: usize) -> Next {
    let step = &shape.steps[i];
    let forward_only = shape.forward_only(i);
    // A group's steps that maybe took effect are undone by the
    // compensation's own rule; a single step is named here.
    let alone = step.group.is_none();
    let run = Next::Run {
        step: i,
        attempt: p.attempts[i] + 1,
        retry: p.attempts[i],
    };
    let unknown_compensates = !forward_only && step.on_unknown == OnUnknown::Compensate;
    // An attempt with no outcome: its executor died while it ran.
    if p.open[i] && unknown_compensates {
        return Next::Compensate {
            also: alone.then_some(i),
            why: Why::OutcomeUnknown { step: i },
        };
    }
    match p.failed[i] {
        // A first attempt, or one again after an attempt left open by a
        // crash (run again: the same idempotency key).
        None => run,
        Some(StepErrorKind::Pause) => Next::Pause { step: i },
        Some(StepErrorKind::Compensate) if forward_only => Next::Pause { step: i },
        Some(StepErrorKind::Compensate) => Next::Compensate {
            also: None,
            why: Why::StepRefused { step: i },
        },
        Some(StepErrorKind::Unknown) if unknown_compensates => Next::Compensate {
            also: alone.then_some(i),
            why: Why::OutcomeUnknown { step: i },
        },
        Some(_) => {
            if forward_only || p.attempts[i] < step.max_attempts {
                run
            } else {
                // An attempt that timed out (this one or an earlier one)
                // may have taken effect.
                let also = (alone && p.maybe_done(i) && step.compensable).then_some(i);
                Next::Compensate {
                    also,
                    why: Why::StepFailed {
                        step: i,
                        attempts: p.attempts[i],
                    },
                }
            }
        }
    }
}

fn undo_next(shape: &Shape, p: &Position, running: &[usize]) -> Next {
    // First settle the group steps whose outcome is unknown and whose rule
    // is to run again: their action runs (same key) until it is known.
    for (i, s) in shape.steps.iter().enumerate() {
        let settle = s.group.is_some()
            && s.compensable
            && s.on_unknown == OnUnknown::RunAgain
            && !p.succeeded[i]
            && p.maybe_done(i)
            && p.attempts[i] < s.max_attempts;
        if settle && !running.contains(&i) {
            let retry = if p.open[i] { 0 } else { p.attempts[i] };
            return Next::Run {
                step: i,
                attempt: p.attempts[i] + 1,
                retry,
            };
        }
    }
    if !running.is_empty() {
        return Next::Wait;
    }
    // A group step still maybe done is one ruled compensate, out of
    // attempts, or one that asked for an operator while being settled:
    // its compensation copes with an action that never applied.
    let group_maybe = |i: usize| {
        shape.steps[i].group.is_some()
            && (p.maybe_done(i) || p.failed[i] == Some(StepErrorKind::Pause))
    };
    let target = (0..shape.steps.len()).rev().find(|&i| {
        shape.steps[i].compensable
            && (p.succeeded[i] || p.also == Some(i) || group_maybe(i))
            && !p.compensated[i]
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
            group: None,
        };
        Shape {
            steps: vec![s(true), s(true), s(false), s(false)],
            pivot: Some(2),
            compensation_attempts: 2,
        }
    }

    fn at(log: &[Record]) -> Position {
        Position::replay(&shape(), log)
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
        decide(shape, &at(log), &[], false, 0, None)
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
        assert_eq!(p.succeeded, [true, true, false, false]);
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
                    .failure(StepErrorKind::Transient),
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
    fn an_earlier_timed_out_attempt_is_compensated_when_the_last_fails_plainly() {
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        let attempt = |f: StepErrorKind| {
            [
                Record::new(Kind::StepStarted).step(1),
                Record::new(Kind::StepFailed).step(1).failure(f),
            ]
        };
        // The first attempt timed out (it may have reserved), the next two
        // were refused before reaching the service.
        log.extend(attempt(StepErrorKind::Unknown));
        log.extend(attempt(StepErrorKind::Transient));
        log.extend(attempt(StepErrorKind::Transient));
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
    fn an_attempt_cut_off_by_a_crash_is_compensated_when_later_ones_fail_plainly() {
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        // The executor died during the first attempt (no outcome logged).
        log.push(Record::new(Kind::StepStarted).step(1));
        for _ in 0..2 {
            log.extend([
                Record::new(Kind::StepStarted).step(1),
                Record::new(Kind::StepFailed)
                    .step(1)
                    .failure(StepErrorKind::Transient),
            ]);
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
                    .failure(StepErrorKind::Transient),
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
                .failure(StepErrorKind::Compensate),
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
        assert_eq!(decide(&s, &p, &[], true, 0, None), comp(Why::Cancelled));
        assert_eq!(
            decide(&s, &p, &[], false, 10, Some(10)),
            comp(Why::DeadlinePassed)
        );
        assert!(matches!(
            decide(&s, &p, &[], false, 9, Some(10)),
            Next::Run { .. }
        ));
        log.extend(ok(1, 2));
        log.push(Record::new(Kind::StepStarted).step(2));
        let p = at(&log);
        assert!(p.past_pivot(&s));
        assert!(matches!(
            decide(&s, &p, &[], true, 10, Some(10)),
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
                .failure(StepErrorKind::Unknown),
        );
        assert_eq!(
            decide(&shape(), &at(&log), &[], false, 5, Some(5)),
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
                    .failure(StepErrorKind::Unknown),
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
                .failure(StepErrorKind::Compensate),
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

    /// `a`, then `b` and `c` in a group, then `d` the pivot.
    fn grouped() -> Shape {
        let s = |group| StepShape {
            compensable: true,
            on_unknown: OnUnknown::RunAgain,
            max_attempts: 3,
            group,
        };
        Shape {
            steps: vec![s(None), s(Some(0)), s(Some(0)), s(None)],
            pivot: Some(3),
            compensation_attempts: 2,
        }
    }

    fn run(step: usize, attempt: u32, retry: u32) -> Next {
        Next::Run {
            step,
            attempt,
            retry,
        }
    }

    /// The log up to `a` done and both group steps started.
    fn group_started() -> Vec<Record> {
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        log.push(Record::new(Kind::StepStarted).step(1));
        log.push(Record::new(Kind::StepStarted).step(2));
        log
    }

    #[test]
    fn a_group_starts_every_step_then_waits_for_them() {
        let s = grouped();
        let mut log = vec![started()];
        log.extend(ok(0, 1));
        let p = Position::replay(&s, &log);
        assert_eq!(decide(&s, &p, &[], false, 0, None), run(1, 1, 0));
        assert_eq!(decide(&s, &p, &[1], false, 0, None), run(2, 1, 0));
        assert_eq!(decide(&s, &p, &[1, 2], false, 0, None), Next::Wait);
        assert_eq!(s.unit(2), 1..3);
        assert_eq!(s.unit(3), 3..4);
    }

    #[test]
    fn group_steps_get_the_state_at_the_group_start_and_the_merged_state_moves_on() {
        let s = grouped();
        let mut log = group_started();
        log.push(Record::new(Kind::StepSucceeded).step(2).state(json!(5)));
        let p = Position::replay(&s, &log);
        assert_eq!((p.state.clone(), p.base.clone()), (json!(5), json!(1)));
        // The sibling still running keeps the group open.
        assert_eq!(decide(&s, &p, &[1], false, 0, None), Next::Wait);
        log.push(Record::new(Kind::StepSucceeded).step(1).state(json!(9)));
        let p = Position::replay(&s, &log);
        assert_eq!((p.state.clone(), p.base.clone()), (json!(9), json!(9)));
        assert_eq!(decide(&s, &p, &[], false, 0, None), run(3, 1, 0));
    }

    #[test]
    fn a_sibling_refusing_stops_the_group_and_the_cancelled_one_is_settled_then_undone() {
        let s = grouped();
        let mut log = group_started();
        log.push(
            Record::new(Kind::StepFailed)
                .step(2)
                .failure(StepErrorKind::Compensate),
        );
        let p = Position::replay(&s, &log);
        assert_eq!(
            decide(&s, &p, &[1], false, 0, None),
            Next::Compensate {
                also: None,
                why: Why::StepRefused { step: 2 }
            }
        );
        // `b` was cancelled with its group: its rule runs it again (no
        // backoff) before anything is undone.
        log.push(Record::new(Kind::Compensating));
        let p = Position::replay(&s, &log);
        assert_eq!(decide(&s, &p, &[], false, 0, None), run(1, 2, 0));
        assert_eq!(decide(&s, &p, &[1], false, 0, None), Next::Wait);
        log.push(Record::new(Kind::StepStarted).step(1));
        log.push(Record::new(Kind::StepSucceeded).step(1).state(json!(3)));
        let p = Position::replay(&s, &log);
        assert_eq!(
            decide(&s, &p, &[], false, 0, None),
            Next::Undo {
                step: 1,
                attempt: 1
            }
        );
        log.push(Record::new(Kind::CompensationStarted).step(1));
        log.push(Record::new(Kind::Compensated).step(1));
        let p = Position::replay(&s, &log);
        assert_eq!(
            decide(&s, &p, &[], false, 0, None),
            Next::Undo {
                step: 0,
                attempt: 1
            }
        );
    }

    #[test]
    fn a_cancelled_sibling_ruled_compensate_is_undone_without_running_again() {
        let mut s = grouped();
        s.steps[1].on_unknown = OnUnknown::Compensate;
        let mut log = group_started();
        log.push(
            Record::new(Kind::StepFailed)
                .step(2)
                .failure(StepErrorKind::Compensate),
        );
        log.push(Record::new(Kind::Compensating));
        let p = Position::replay(&s, &log);
        assert_eq!(
            decide(&s, &p, &[], false, 0, None),
            Next::Undo {
                step: 1,
                attempt: 1
            }
        );
    }

    #[test]
    fn a_settled_sibling_that_fails_for_good_is_not_undone() {
        let s = grouped();
        let mut log = group_started();
        log.push(
            Record::new(Kind::StepFailed)
                .step(2)
                .failure(StepErrorKind::Compensate),
        );
        log.push(Record::new(Kind::Compensating));
        log.push(Record::new(Kind::StepStarted).step(1));
        log.push(
            Record::new(Kind::StepFailed)
                .step(1)
                .failure(StepErrorKind::Compensate),
        );
        let p = Position::replay(&s, &log);
        assert_eq!(
            decide(&s, &p, &[], false, 0, None),
            Next::Undo {
                step: 0,
                attempt: 1
            }
        );
    }

    #[test]
    fn a_crash_inside_a_group_runs_the_open_steps_again() {
        let s = grouped();
        let mut log = group_started();
        log.push(Record::new(Kind::StepSucceeded).step(1).state(json!(2)));
        let p = Position::replay(&s, &log);
        assert_eq!(decide(&s, &p, &[], false, 0, None), run(2, 2, 1));
    }

    #[test]
    fn a_cancel_inside_a_group_waits_for_the_steps_in_flight() {
        let s = grouped();
        let log = group_started();
        let p = Position::replay(&s, &log);
        assert_eq!(decide(&s, &p, &[1, 2], true, 0, None), Next::Wait);
        // Both ended (say one succeeded, one was cut off by a crash).
        let mut log = log;
        log.push(Record::new(Kind::StepSucceeded).step(1).state(json!(2)));
        let p = Position::replay(&s, &log);
        assert_eq!(
            decide(&s, &p, &[], true, 0, None),
            Next::Compensate {
                also: None,
                why: Why::Cancelled
            }
        );
    }
}

//! Saga definitions: a named, versioned sequence of [`Step`]s, built and
//! checked by [`DefinitionBuilder`].
//!
//! Actions and compensations are typed (`Fn(StepContext<S>) -> Future<Output
//! = Result<S, StepError>>`); the definition keeps them as boxed closures
//! over the state's JSON, so one executor can run definitions of many state
//! types. A state that fails to (de)serialise is a [`StepError::pause`],
//! never a panic.

use crate::step::{OnUnknown, Outgoing, StepContext, StepError};
use crate::{DefinitionError, SagaId};
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::any::TypeId;
use std::collections::HashSet;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// The context an erased action receives.
pub(crate) struct Call {
    pub state: Value,
    pub saga_id: SagaId,
    pub step: Arc<str>,
    pub attempt: u32,
    pub key: String,
    /// Where the attempt's messages go.
    pub outgoing: Outgoing,
}

pub(crate) type ErasedFn =
    Arc<dyn Fn(Call) -> BoxFuture<'static, Result<Value, StepError>> + Send + Sync>;

/// A group's merge over the state's JSON: (the state so far, what one
/// step returned) to the merged state; a state that does not (de)serialise
/// is the error's text.
pub(crate) type ErasedMerge = Arc<dyn Fn(Value, Value) -> Result<Value, String> + Send + Sync>;

fn erase_merge<S, F>(f: F) -> ErasedMerge
where
    S: Serialize + DeserializeOwned + 'static,
    F: Fn(S, S) -> S + Send + Sync + 'static,
{
    Arc::new(move |so_far: Value, mine: Value| {
        let so_far: S = serde_json::from_value(so_far)
            .map_err(|e| format!("the saga's state does not deserialise: {e}"))?;
        let mine: S = serde_json::from_value(mine)
            .map_err(|e| format!("a step's state does not deserialise: {e}"))?;
        serde_json::to_value(f(so_far, mine))
            .map_err(|e| format!("the merged state does not serialise: {e}"))
    })
}

fn erase<S, F, Fut>(f: F) -> ErasedFn
where
    S: Serialize + DeserializeOwned + Send + 'static,
    F: Fn(StepContext<S>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<S, StepError>> + Send + 'static,
{
    Arc::new(move |call: Call| {
        let state: S = match serde_json::from_value(call.state) {
            Ok(s) => s,
            Err(e) => {
                let e = StepError::pause(format!("the saga's state does not deserialise: {e}"));
                return Box::pin(std::future::ready(Err(e)));
            }
        };
        let fut = f(StepContext {
            state,
            saga_id: call.saga_id,
            step: call.step,
            attempt: call.attempt,
            key: call.key,
            outgoing: call.outgoing,
        });
        Box::pin(async move {
            let next = fut.await?;
            serde_json::to_value(&next)
                .map_err(|e| StepError::pause(format!("the new state does not serialise: {e}")))
        })
    })
}

/// One step of a saga: its action and, optionally, its compensation, with
/// the policies that run them.
pub struct Step<S> {
    name: Arc<str>,
    action: ErasedFn,
    compensation: Option<ErasedFn>,
    retry: ballast_retry::Config,
    timeout: Duration,
    on_unknown: OnUnknown,
    pivot: bool,
    _state: PhantomData<fn() -> S>,
}

impl<S> std::fmt::Debug for Step<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("name", &self.name)
            .field("compensated", &self.compensation.is_some())
            .field("timeout", &self.timeout)
            .field("on_unknown", &self.on_unknown)
            .field("pivot", &self.pivot)
            .finish_non_exhaustive()
    }
}

/// Each attempt's timeout unless a step sets its own.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30);

impl<S> Step<S>
where
    S: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// A step named `name` running `action`, which returns the new state.
    /// Defaults: no compensation, ballast-retry's default policy (3
    /// attempts, exponential backoff) for transient errors, a 30 s timeout
    /// per attempt, [`OnUnknown::RunAgain`].
    pub fn new<F, Fut>(name: impl Into<String>, action: F) -> Self
    where
        F: Fn(StepContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S, StepError>> + Send + 'static,
    {
        Step {
            name: name.into().into(),
            action: erase(action),
            compensation: None,
            retry: ballast_retry::Config::default(),
            timeout: DEFAULT_STEP_TIMEOUT,
            on_unknown: OnUnknown::RunAgain,
            pivot: false,
            _state: PhantomData,
        }
    }

    /// What undoes the action; it receives the state as it is when
    /// compensating starts and returns the new state.
    pub fn compensate<F, Fut>(mut self, compensation: F) -> Self
    where
        F: Fn(StepContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S, StepError>> + Send + 'static,
    {
        self.compensation = Some(erase(compensation));
        self
    }

    /// The retry policy for transient errors before the pivot (its
    /// attempts and backoff; the budget is not used). After the pivot a
    /// step is retried until it succeeds, with this backoff.
    pub fn retry(mut self, config: ballast_retry::Config) -> Self {
        self.retry = config;
        self
    }

    /// The longest one attempt may take; a timed-out attempt's outcome is
    /// unknown (see [`on_unknown`](Self::on_unknown)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What to do when the step's outcome is unknown.
    pub fn on_unknown(mut self, rule: OnUnknown) -> Self {
        self.on_unknown = rule;
        self
    }

    /// Marks the pivot: once it has started, the saga can only go forward.
    pub fn pivot(mut self) -> Self {
        self.pivot = true;
        self
    }
}

/// Steps that run at the same time, added with
/// [`DefinitionBuilder::parallel`].
///
/// Every step of a group receives the state as it was when the group
/// started, and returns its own copy of it; as each step succeeds, `merge`
/// folds its copy into the state so far (`merge(state_so_far, mine)`), and
/// the merged state is what its `step_succeeded` entry logs. Merges thus
/// apply in the order the successes were logged, one at a time, and replay
/// reads the merged states back from the log: no update is lost and
/// recovery never runs `merge` again. A merge should take from `mine` only
/// what that step changes (steps of a group touch different fields, or
/// append to a list).
///
/// If one step fails for good (or asks to compensate), the siblings still
/// running are cancelled (dropped where they are, their outcome unknown):
/// a sibling whose rule is [`OnUnknown::RunAgain`] runs again with the
/// same idempotency key until its outcome is known, one whose rule is
/// [`OnUnknown::Compensate`] is taken as done. Then every sibling that
/// (maybe) took effect is compensated, one at a time in reverse step
/// order, then the earlier steps in reverse. A pivot inside a group is
/// refused ([`DefinitionError::PivotInGroup`]): a group is undone as a
/// whole, and a pivot is what cannot be undone.
pub struct Group<S> {
    steps: Vec<Step<S>>,
    merge: ErasedMerge,
}

impl<S> std::fmt::Debug for Group<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl<S> Group<S>
where
    S: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// An empty group whose steps' states are folded together by `merge`
    /// (the state so far, then one step's returned state).
    pub fn new<F>(merge: F) -> Self
    where
        F: Fn(S, S) -> S + Send + Sync + 'static,
    {
        Group {
            steps: Vec::new(),
            merge: erase_merge(merge),
        }
    }

    /// Adds a step to the group.
    pub fn step(mut self, step: Step<S>) -> Self {
        self.steps.push(step);
        self
    }
}

/// A step as the executor runs it.
pub(crate) struct StepDef {
    pub name: Arc<str>,
    pub action: ErasedFn,
    pub compensation: Option<ErasedFn>,
    pub retry: ballast_retry::Config,
    pub timeout: Duration,
    pub on_unknown: OnUnknown,
    /// The parallel group the step belongs to (its index among the
    /// definition's groups), with the group's merge.
    pub group: Option<GroupOf>,
}

/// A step's group: its index among the definition's groups, and the
/// group's merge.
pub(crate) type GroupOf = (usize, ErasedMerge);

/// A definition without its state type, as the executor keeps it.
pub(crate) struct Erased {
    pub name: String,
    pub version: u32,
    pub steps: Vec<StepDef>,
    pub pivot: Option<usize>,
    pub state_type: TypeId,
}

impl Erased {
    pub fn index_of(&self, step: &str) -> Option<usize> {
        self.steps.iter().position(|s| &*s.name == step)
    }
}

/// A checked saga definition, ready to register with an
/// [`Executor`](crate::Executor). Cheap to clone.
pub struct Definition<S> {
    pub(crate) inner: Arc<Erased>,
    _state: PhantomData<fn() -> S>,
}

impl<S> Clone for Definition<S> {
    fn clone(&self) -> Self {
        Definition {
            inner: self.inner.clone(),
            _state: PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for Definition<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let steps: Vec<&str> = self.inner.steps.iter().map(|s| &*s.name).collect();
        f.debug_struct("Definition")
            .field("name", &self.inner.name)
            .field("version", &self.inner.version)
            .field("steps", &steps)
            .field("pivot", &self.inner.pivot)
            .finish()
    }
}

impl<S> Definition<S>
where
    S: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Starts a definition named `name` at `version`.
    pub fn builder(name: impl Into<String>, version: u32) -> DefinitionBuilder<S> {
        DefinitionBuilder {
            name: name.into(),
            version,
            steps: Vec::new(),
            groups: 0,
            error: None,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Its version.
    pub fn version(&self) -> u32 {
        self.inner.version
    }

    /// Its steps' names, in order.
    pub fn steps(&self) -> impl Iterator<Item = &str> {
        self.inner.steps.iter().map(|s| &*s.name)
    }

    /// The pivot step's name, if one is marked.
    pub fn pivot(&self) -> Option<&str> {
        self.inner.pivot.map(|i| &*self.inner.steps[i].name)
    }
}

/// Collects the steps of a [`Definition`] and checks them in
/// [`build`](Self::build).
pub struct DefinitionBuilder<S> {
    name: String,
    version: u32,
    steps: Vec<(Step<S>, Option<GroupOf>)>,
    groups: usize,
    /// A mistake found while adding (an empty group), reported by `build`.
    error: Option<DefinitionError>,
}

impl<S> std::fmt::Debug for DefinitionBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefinitionBuilder")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("steps", &self.steps.len())
            .finish_non_exhaustive()
    }
}

impl<S> DefinitionBuilder<S>
where
    S: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Adds the next step.
    pub fn step(mut self, step: Step<S>) -> Self {
        self.steps.push((step, None));
        self
    }

    /// Adds a group of steps that run at the same time (see [`Group`]).
    /// An empty group is refused by [`build`](Self::build).
    pub fn parallel(mut self, group: Group<S>) -> Self {
        if group.steps.is_empty() {
            self.error.get_or_insert(DefinitionError::EmptyGroup);
            return self;
        }
        let g = self.groups;
        self.groups += 1;
        for step in group.steps {
            self.steps.push((step, Some((g, group.merge.clone()))));
        }
        self
    }

    /// Checks the definition: a name, at least one step, unique step
    /// names, at most one pivot and none inside a group, no empty group, a
    /// compensation on every step before the pivot (on every step when
    /// there is none), and a compensation on every step that compensates
    /// an unknown outcome.
    pub fn build(self) -> Result<Definition<S>, DefinitionError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if let Some((s, _)) = self.steps.iter().find(|(s, g)| s.pivot && g.is_some()) {
            return Err(DefinitionError::PivotInGroup(s.name.to_string()));
        }
        let (steps, groups): (Vec<Step<S>>, Vec<_>) = self.steps.into_iter().unzip();
        if self.name.is_empty() {
            return Err(DefinitionError::EmptyName);
        }
        if steps.is_empty() {
            return Err(DefinitionError::NoSteps);
        }
        let mut names = HashSet::new();
        let mut pivot: Option<usize> = None;
        for (i, s) in steps.iter().enumerate() {
            if !names.insert(s.name.clone()) {
                return Err(DefinitionError::DuplicateStep(s.name.to_string()));
            }
            if s.pivot {
                if let Some(p) = pivot {
                    return Err(DefinitionError::TwoPivots {
                        first: steps[p].name.to_string(),
                        second: s.name.to_string(),
                    });
                }
                pivot = Some(i);
            }
        }
        for (i, s) in steps.iter().enumerate() {
            let before_pivot = pivot.is_none_or(|p| i < p);
            if before_pivot && s.compensation.is_none() {
                return Err(DefinitionError::MissingCompensation(s.name.to_string()));
            }
            let forward_only = pivot.is_some_and(|p| i > p);
            if s.on_unknown == OnUnknown::Compensate && (s.compensation.is_none() || forward_only) {
                return Err(DefinitionError::CompensateWithoutCompensation(
                    s.name.to_string(),
                ));
            }
        }
        let steps = steps
            .into_iter()
            .zip(groups)
            .map(|(s, group)| StepDef {
                name: s.name,
                action: s.action,
                compensation: s.compensation,
                retry: s.retry,
                timeout: s.timeout,
                on_unknown: s.on_unknown,
                group,
            })
            .collect();
        Ok(Definition {
            inner: Arc::new(Erased {
                name: self.name,
                version: self.version,
                steps,
                pivot,
                state_type: TypeId::of::<S>(),
            }),
            _state: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type St = u32;

    fn ok(name: &str) -> Step<St> {
        Step::new(
            name,
            |c: StepContext<St>| async move { Ok(c.into_state() + 1) },
        )
    }

    fn undoable(name: &str) -> Step<St> {
        ok(name).compensate(|c: StepContext<St>| async move { Ok(c.into_state()) })
    }

    #[test]
    fn a_definition_without_steps_is_refused() {
        let e = Definition::<St>::builder("s", 1).build().unwrap_err();
        assert_eq!(e, DefinitionError::NoSteps);
    }

    #[test]
    fn an_empty_name_is_refused() {
        let e = Definition::<St>::builder("", 1)
            .step(undoable("a"))
            .build()
            .unwrap_err();
        assert_eq!(e, DefinitionError::EmptyName);
    }

    #[test]
    fn two_pivots_are_refused() {
        let e = Definition::<St>::builder("s", 1)
            .step(undoable("a").pivot())
            .step(undoable("b").pivot())
            .build()
            .unwrap_err();
        assert_eq!(
            e,
            DefinitionError::TwoPivots {
                first: "a".into(),
                second: "b".into()
            }
        );
    }

    #[test]
    fn a_step_before_the_pivot_without_compensation_is_refused() {
        let e = Definition::<St>::builder("s", 1)
            .step(undoable("a"))
            .step(ok("b"))
            .step(ok("c").pivot())
            .build()
            .unwrap_err();
        assert_eq!(e, DefinitionError::MissingCompensation("b".into()));
    }

    #[test]
    fn without_a_pivot_every_step_needs_a_compensation() {
        let e = Definition::<St>::builder("s", 1)
            .step(undoable("a"))
            .step(ok("b"))
            .build()
            .unwrap_err();
        assert_eq!(e, DefinitionError::MissingCompensation("b".into()));
    }

    #[test]
    fn duplicate_step_names_are_refused() {
        let e = Definition::<St>::builder("s", 1)
            .step(undoable("a"))
            .step(undoable("a"))
            .build()
            .unwrap_err();
        assert_eq!(e, DefinitionError::DuplicateStep("a".into()));
    }

    #[test]
    fn compensating_an_unknown_outcome_needs_a_compensation_before_the_pivot() {
        let e = Definition::<St>::builder("s", 1)
            .step(undoable("a").pivot())
            .step(ok("b").on_unknown(OnUnknown::Compensate))
            .build()
            .unwrap_err();
        assert_eq!(
            e,
            DefinitionError::CompensateWithoutCompensation("b".into())
        );
    }

    #[test]
    fn steps_at_and_after_the_pivot_may_go_without_compensation() {
        let d = Definition::<St>::builder("s", 2)
            .step(undoable("a"))
            .step(ok("b").pivot())
            .step(ok("c"))
            .build()
            .unwrap();
        assert_eq!(d.steps().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(d.pivot(), Some("b"));
        assert_eq!((d.name(), d.version()), ("s", 2));
    }

    #[tokio::test]
    async fn an_action_gets_the_state_and_the_idempotency_key_and_returns_json() {
        let d = Definition::<St>::builder("s", 1)
            .step(
                Step::new("a", |c: StepContext<St>| async move {
                    assert_eq!(c.idempotency_key(), "k");
                    assert_eq!((c.step(), c.attempt()), ("a", 2));
                    Ok(c.state() * 10)
                })
                .compensate(|c: StepContext<St>| async move { Ok(c.into_state()) }),
            )
            .build()
            .unwrap();
        let call = Call {
            state: serde_json::json!(4),
            saga_id: SagaId::new(),
            step: "a".into(),
            attempt: 2,
            key: "k".into(),
            outgoing: Default::default(),
        };
        let out = (d.inner.steps[0].action)(call).await.unwrap();
        assert_eq!(out, serde_json::json!(40));
    }

    #[tokio::test]
    async fn a_state_that_does_not_deserialise_pauses_instead_of_panicking() {
        let d = Definition::<St>::builder("s", 1)
            .step(undoable("a"))
            .build()
            .unwrap();
        let call = Call {
            state: serde_json::json!("not a number"),
            saga_id: SagaId::new(),
            step: "a".into(),
            attempt: 1,
            key: "k".into(),
            outgoing: Default::default(),
        };
        let e = (d.inner.steps[0].action)(call).await.unwrap_err();
        assert_eq!(e.kind(), crate::StepErrorKind::Pause);
    }

    fn merge_sum(a: St, b: St) -> St {
        a + b
    }

    #[test]
    fn a_pivot_inside_a_group_is_refused() {
        let e = Definition::<St>::builder("s", 1)
            .step(undoable("a"))
            .parallel(
                Group::new(merge_sum)
                    .step(undoable("b"))
                    .step(undoable("c").pivot()),
            )
            .build()
            .unwrap_err();
        assert_eq!(e, DefinitionError::PivotInGroup("c".into()));
    }

    #[test]
    fn an_empty_group_is_refused() {
        let e = Definition::<St>::builder("s", 1)
            .step(undoable("a"))
            .parallel(Group::new(merge_sum))
            .build()
            .unwrap_err();
        assert_eq!(e, DefinitionError::EmptyGroup);
    }

    #[test]
    fn group_steps_before_the_pivot_need_compensations_and_keep_their_order() {
        let e = Definition::<St>::builder("s", 1)
            .parallel(Group::new(merge_sum).step(undoable("a")).step(ok("b")))
            .step(ok("c").pivot())
            .build()
            .unwrap_err();
        assert_eq!(e, DefinitionError::MissingCompensation("b".into()));
        let d = Definition::<St>::builder("s", 1)
            .step(undoable("a"))
            .parallel(
                Group::new(merge_sum)
                    .step(undoable("b"))
                    .step(undoable("c")),
            )
            .step(ok("d").pivot())
            .parallel(Group::new(merge_sum).step(ok("e")).step(ok("f")))
            .build()
            .unwrap();
        assert_eq!(
            d.steps().collect::<Vec<_>>(),
            ["a", "b", "c", "d", "e", "f"]
        );
        let groups: Vec<Option<usize>> = d
            .inner
            .steps
            .iter()
            .map(|s| s.group.as_ref().map(|(g, _)| *g))
            .collect();
        assert_eq!(groups, [None, Some(0), Some(0), None, Some(1), Some(1)]);
        let merge = &d.inner.steps[1].group.as_ref().unwrap().1;
        assert_eq!(
            merge(serde_json::json!(2), serde_json::json!(3)).unwrap(),
            serde_json::json!(5)
        );
        assert!(merge(serde_json::json!("x"), serde_json::json!(3)).is_err());
    }
}

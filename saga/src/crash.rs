//! Test-only crash points (feature `crash-hooks`, off by default): a hook
//! the executor calls at every step boundary; when it returns `true` the
//! executor stops there as if its process died (every task aborted, no
//! lease given back), so a test can check that a new executor resumes
//! from the log.

use crate::Kind;
use std::sync::Arc;

/// Where the executor is when it calls the hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boundary {
    /// About to append a log entry of this kind (about `step`, if any).
    BeforeAppend(Kind, Option<String>),
    /// The entry is durable.
    AfterAppend(Kind, Option<String>),
    /// About to run a step's action.
    BeforeAction(String),
    /// A step's action returned (its outcome not yet logged).
    AfterAction(String),
    /// About to run a step's compensation.
    BeforeCompensation(String),
    /// A step's compensation returned (its outcome not yet logged).
    AfterCompensation(String),
    /// About to start the first step of a parallel group (its steps named).
    GroupStarting(Vec<String>),
    /// The steps of a group still in flight were cancelled (named), before
    /// the entry that turns the saga to what comes next.
    SiblingsCancelled(Vec<String>),
}

/// The hook: `true` stops the executor at this boundary.
pub type CrashHook = Arc<dyn Fn(&Boundary) -> bool + Send + Sync>;

//! A durable saga orchestrator for sqlx: a business transaction that spans
//! services runs as a sequence of local steps, each with a compensation
//! that semantically undoes it; if a step fails for good, the completed
//! steps are compensated in reverse order. The saga log lives in your own
//! database (SQLite by default, PostgreSQL in production), so a saga
//! survives a crash of the process running it, and several executor
//! processes can share the work.
//!
//! ```
//! use ballast_saga::{Definition, Executor, Status, Step, StepContext, StepError};
//! use serde::{Deserialize, Serialize};
//! use std::time::Duration;
//!
//! #[derive(Clone, Default, Serialize, Deserialize)]
//! struct Order { reserved: bool, charged: bool }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! // Reserve stock (undone by releasing it), then charge: the pivot, the
//! // point of no return. Each call carries an idempotency key for the
//! // service: "{saga_id}/{step}", the same on every attempt.
//! let order = Definition::builder("order", 1)
//!     .step(
//!         Step::new("reserve", |c: StepContext<Order>| async move {
//!             // inventory.reserve(c.idempotency_key()).await?;
//!             Ok(Order { reserved: true, ..c.into_state() })
//!         })
//!         .compensate(|c: StepContext<Order>| async move {
//!             Ok(Order { reserved: false, ..c.into_state() })
//!         }),
//!     )
//!     .step(
//!         Step::new("charge", |c: StepContext<Order>| async move {
//!             if !c.state().reserved {
//!                 return Err(StepError::compensate("nothing reserved"));
//!             }
//!             Ok(Order { charged: true, ..c.into_state() })
//!         })
//!         .timeout(Duration::from_secs(5))
//!         .pivot(),
//!     )
//!     .build()?;
//!
//! // SQLite is the embedded default; a PgPool works the same way.
//! let pool = ballast_saga::sqlite::connect(&dir.path().join("sagas.db")).await?;
//! let executor = Executor::builder(pool).register(order).start().await?;
//! let id = executor.start_saga("order", 1, &Order::default()).await?;
//! let saga = executor.wait(id, Duration::from_millis(10)).await?;
//! assert_eq!(saga.status, Status::Completed);
//! assert_eq!(saga.state["charged"], true);
//! executor.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # How a saga runs
//!
//! Each saga runs in a task of its own. Every transition is appended to
//! the saga's log before the next action begins (`step_started` is durable
//! before the step's action runs), and the log is the saga's truth: a
//! saga's state and position are rebuilt from it after a crash.
//!
//! - **Before the pivot** a step's transient errors ([`StepError::transient`])
//!   are retried per its ballast-retry [`Config`](ballast_retry::Config)
//!   (attempts and backoff); a step that fails for good
//!   ([`StepError::compensate`], or out of attempts) turns the saga to
//!   compensating: the completed steps' compensations run in reverse, each
//!   retried with backoff; one that keeps failing past
//!   [`ConfigBuilder::compensation_attempts`] marks the saga
//!   [`Status::Stuck`], reported and kept, never dropped.
//!   [`ExecutorHandle::cancel`] and the saga's own deadline
//!   ([`ExecutorHandle::start_saga_within`]) compensate the same way.
//! - **The pivot**: once it starts, the saga only goes forward: later steps
//!   are retried until they succeed (each attempt under its own timeout),
//!   the deadline no longer applies, and a cancel is refused
//!   ([`CancelError::PastPivot`]). A step that refuses after the pivot
//!   pauses the saga for an operator.
//! - **Unknown outcomes**: an attempt that timed out, was running when
//!   its executor died, or said so itself ([`StepError::unknown`]: its
//!   request went out and no answer came back in time) may or may not
//!   have taken effect. The step's
//!   [`OnUnknown`] rule decides: run again with the same idempotency key,
//!   or compensate it too. A compensation must therefore cope with an
//!   action that never applied (its key tells the service).
//! - **Parallel groups** ([`DefinitionBuilder::parallel`], [`Group`]): the
//!   steps of a group run at the same time, each `step_started` durable
//!   before its action. Each works on the state as the group started and
//!   returns its copy; the group's merge folds each success into the state
//!   in the order the successes are logged, and the merged state is what
//!   the log keeps, so replay is deterministic and no update is lost. One
//!   step failing for good cancels its siblings in flight (their outcome
//!   unknown: rule [`OnUnknown::RunAgain`] runs one again with its key
//!   until its outcome is known, [`OnUnknown::Compensate`] takes it as
//!   done); then the group's steps that took effect are compensated, then
//!   the earlier steps, in reverse. A pivot inside a group is refused.
//! - **Messages** ([`StepContext::send`]): with an outbox
//!   ([`ExecutorBuilder::outbox`], ballast-outbox on the log's database), a
//!   step's messages are enqueued in the transaction that logs its success
//!   (a compensation's, its `compensated` entry): both commit or neither.
//!   A failed, timed-out or fenced attempt's messages are dropped. Lock
//!   order in that transaction: the saga's row, then the outbox's key
//!   counters in key order.
//! - [`StepError::pause`], a panic in a step, or a state that no longer
//!   deserialises pause the saga ([`Status::Paused`]) until an operator
//!   resumes or aborts it (see Operators below).
//!
//! # Leases, fencing and recovery
//!
//! A running saga is owned by one executor through its row in
//! `<table>_sagas`: owner, epoch, lease expiry. The owner renews its leases
//! every tick; any executor claims sagas that are unowned or whose lease
//! expired, bumping the epoch, on start and every tick, rebuilds each from
//! its log and resumes it. Every log append is fenced: in one transaction
//! it updates the saga's row `WHERE id AND owner AND epoch` (no row: the
//! saga was taken over, and nothing is written), appends, and commits. An
//! executor that was stopped past its lease and wakes up writes nothing
//! more; an action it had in flight may still reach its service late,
//! which is why actions carry idempotency keys. A saga whose definition
//! version is not registered in the executor that claims it is paused with
//! that reason, not failed.
//!
//! The database going away (a restart, a network cut, connections
//! terminated) stops nothing for good: a saga task whose append fails
//! waits with backoff (50 ms doubling to 2 s) and writes the same entry
//! again, idempotently, before its next action; renewals and claims are
//! tried again every tick. A lease that expired meanwhile is claimed
//! again (by this executor or another) at a newer epoch, and the saga
//! resumes from its log.
//!
//! # Group commit and idempotent appends
//!
//! Saga tasks do not write the log themselves: one writer task per
//! executor takes every append that is ready (up to
//! [`ConfigBuilder::group_commit`], 256 by default) and commits them in one
//! transaction, one fsync for all, answering each saga only after the
//! commit, so an entry is still durable before the saga's next action.
//! Each entry runs under a savepoint of its own: one saga's fenced, gated
//! or failing write is rolled back alone, the others commit. Locks are
//! taken in one order, saga rows by id then the outbox's key counters in
//! key order, so two executors' groups cannot deadlock. A group that
//! fails as a whole is appended again entry by entry.
//!
//! Every entry carries its number in the saga's log (unique per saga).
//! An append retried after a commit whose answer was lost (the
//! connection dropped after `COMMIT` was sent) finds its entry already
//! there and takes it as written, without enqueueing its messages again.
//!
//! # Operators
//!
//! A stuck or paused saga waits for a person. An [`Operator`] (from
//! [`ExecutorHandle::operator`], or [`Operator::open`] in a service that
//! runs no sagas) lists sagas by status, shows a saga's history, and makes
//! a [`Decision`]: for a stuck saga, retry its compensation (the failing
//! compensation gets its attempts afresh), mark it compensated (undone by
//! hand), or abort it ([`Status::Aborted`], a final status: nothing more
//! runs or is undone); for a paused saga, resume it (the paused step runs
//! again with its idempotency key; register its version first if that was
//! the reason) or abort it. A decision that does not apply to the saga's
//! status is refused ([`DecisionError::WrongStatus`]) and writes nothing.
//!
//! Each decision is one transaction fenced like every other write: it
//! changes the row only from a status the decision applies to, bumps the
//! saga's epoch and clears its owner (so any task that still held the
//! saga is fenced), and appends an `operator_decision` entry naming the
//! operator and the decision. A saga set going again is taken by the next
//! claim of any executor, at a newer epoch still: at once by the executor
//! whose [`ExecutorHandle::operator`] decided (the decision wakes its
//! claim), at their next tick by executors in other processes (and after
//! a decision through [`Operator::open`]). With feature `axum`,
//! `admin::router` offers the same as JSON routes.
//!
//! ```
//! # use ballast_saga::{Executor, Status};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let pool = ballast_saga::sqlite::connect(&dir.path().join("sagas.db")).await?;
//! # let executor = Executor::builder(pool).start().await?;
//! let operator = executor.operator();
//! for saga in operator.list(Status::Stuck, 100).await? {
//!     println!("{} is stuck: {:?}", saga.id, saga.reason);
//!     // After fixing the service the compensation calls:
//!     operator.retry_compensation(saga.id, "alice").await?;
//! }
//! # executor.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Map
//!
//! - [`Definition`], [`DefinitionBuilder`], [`Step`], [`Group`]: what a
//!   saga does;
//!   [`StepContext`], [`StepError`], [`OnUnknown`]: what steps see and say.
//! - [`Executor`], [`ExecutorBuilder`], [`ExecutorHandle`]: running sagas;
//!   [`Config`]: tables, leases, compensation limits; [`Database`]: the
//!   pool the log lives in; [`StepOutbox`]: the outbox steps send through;
//!   [`sqlite::connect`]: the embedded default.
//! - [`SagaInfo`], [`Status`], [`LogEntry`], [`Kind`]: reading sagas back.
//! - [`Operator`], [`Decision`]: listing sagas and deciding about stuck
//!   and paused ones; `admin` (feature `axum`): the same as an axum
//!   `Router`.
//! - Errors: [`DefinitionError`], [`StartError`], [`CancelError`],
//!   [`DecisionError`], [`Error`].
//! - `crash` (feature `crash-hooks`, tests only): stop the executor at a
//!   step boundary to test recovery.
//!
//! Inside: `plan` decides what to do next from the log (a pure state
//! machine, `now` passed in), `runner` does it for one saga, `store` holds
//! the SQL of each database, `schema` the crate's own migrations.
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod admin;
mod committer;
mod config;
#[cfg(feature = "crash-hooks")]
pub mod crash;
mod database;
mod definition;
mod error;
mod executor;
mod operator;
mod plan;
mod runner;
mod saga;
#[cfg(feature = "sqlite")]
pub mod sqlite {
    //! SQLite, the embedded default: [`connect`] opens a database file as
    //! the saga log wants it (WAL, `synchronous = FULL`, a busy timeout),
    //! the same way ballast-outbox does.
    pub use ballast_outbox::sqlite::connect;
}
mod step;
mod store;

pub use config::{Config, ConfigBuilder};
pub use database::{Database, StepOutbox};
pub use definition::{DEFAULT_STEP_TIMEOUT, Definition, DefinitionBuilder, Group, Step};
pub use error::{CancelError, DecisionError, DefinitionError, Error, StartError};
pub use executor::{Executor, ExecutorBuilder, ExecutorHandle};
pub use operator::{Decision, Operator};
pub use saga::{Kind, LogEntry, SagaId, SagaInfo, Status};
pub use step::{OnUnknown, StepContext, StepError, StepErrorKind};

//! The executor: registered definitions, the task that renews leases and
//! claims sagas, and the [`ExecutorHandle`] callers start and cancel sagas
//! through. Each saga runs in a task of its own (see `runner`).

use crate::definition::Erased;
use crate::runner;
use crate::store::{Lease, Loaded, NewSaga, Store, now_ms};
use crate::{
    CancelError, Config, Database, Definition, Error, Kind, LogEntry, SagaId, SagaInfo, StartError,
    Status, StepOutbox,
};
use futures::FutureExt;
use parking_lot::Mutex;
use serde::Serialize;
use std::any::TypeId;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Runs sagas: see [`Executor::builder`].
#[derive(Debug)]
pub struct Executor(());

impl Executor {
    /// An executor keeping its log in `database` (a `SqlitePool` or a
    /// `PgPool`), with the default [`Config`] until one is given.
    pub fn builder(database: impl Into<Database>) -> ExecutorBuilder {
        ExecutorBuilder {
            database: database.into(),
            config: Config::default(),
            definitions: Vec::new(),
            outbox: None,
            #[cfg(feature = "crash-hooks")]
            hook: None,
        }
    }
}

/// Collects the definitions an executor runs; [`start`](Self::start)
/// opens the tables and starts it.
pub struct ExecutorBuilder {
    database: Database,
    config: Config,
    definitions: Vec<Arc<Erased>>,
    outbox: Option<StepOutbox>,
    #[cfg(feature = "crash-hooks")]
    hook: Option<crate::crash::CrashHook>,
}

impl std::fmt::Debug for ExecutorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorBuilder")
            .field("config", &self.config)
            .field("definitions", &self.definitions.len())
            .finish_non_exhaustive()
    }
}

impl ExecutorBuilder {
    /// The settings (tables, owner name, leases, compensation limits).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Adds a definition this executor can start and resume. Several
    /// versions of one name may be registered side by side, so sagas
    /// started on an older version finish on it.
    pub fn register<S: 'static>(mut self, definition: Definition<S>) -> Self {
        self.definitions.push(definition.inner);
        self
    }

    /// The outbox steps send messages through
    /// ([`StepContext::send`](crate::StepContext::send)): an
    /// `Outbox<Sqlite>` or `Outbox<Postgres>` opened on the saga log's own
    /// database. A step's messages are enqueued in the transaction that
    /// logs its success (a compensation's, its `compensated` entry), so
    /// "step done" and "message sent" commit together or not at all.
    /// Without one, a step that sends a message is paused.
    pub fn outbox(mut self, outbox: impl Into<StepOutbox>) -> Self {
        self.outbox = Some(outbox.into());
        self
    }

    /// Stops the executor at a boundary when `hook` says so (tests only).
    #[cfg(feature = "crash-hooks")]
    pub fn crash_hook(
        mut self,
        hook: impl Fn(&crate::crash::Boundary) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Opens (or migrates) the tables, claims the sagas no live executor
    /// holds, and starts renewing and claiming every `tick`. Needs a tokio
    /// runtime.
    pub async fn start(self) -> Result<ExecutorHandle, Error> {
        let mut definitions = HashMap::new();
        for d in self.definitions {
            let key = (d.name.clone(), d.version);
            if definitions.insert(key, d.clone()).is_some() {
                return Err(Error::DuplicateDefinition {
                    name: d.name.clone(),
                    version: d.version,
                });
            }
        }
        let store = self.database.open(&self.config, self.outbox).await?;
        let (committer, writer) = crate::committer::Committer::start(
            store.clone(),
            self.config.owner.clone(),
            self.config.lease,
            self.config.group_commit as usize,
        );
        let inner = Arc::new(Inner {
            store,
            committer,
            writer: Mutex::new(Some(writer)),
            config: self.config,
            definitions,
            runners: Mutex::new(HashMap::new()),
            ticker: Mutex::new(None),
            wake: Arc::new(tokio::sync::Notify::new()),
            stopped: AtomicBool::new(false),
            stop: tokio::sync::watch::channel(false).0,
            #[cfg(feature = "crash-hooks")]
            hook: self.hook,
        });
        // The first renewal and claim run before `start` returns: sagas left
        // by an earlier run are taken up by then, and a saga started
        // through the handle is never claimed back from this executor by
        // a first tick that happened to run late.
        tick_once(&inner).await;
        let ticker = tokio::spawn(tick(inner.clone()));
        *inner.ticker.lock() = Some(ticker);
        Ok(ExecutorHandle { inner })
    }
}

/// What the executor's tasks share.
pub(crate) struct Inner {
    pub store: Arc<dyn Store>,
    /// The log writer saga tasks append through (group commit).
    pub committer: crate::committer::Committer,
    writer: Mutex<Option<JoinHandle<()>>>,
    pub config: Config,
    pub definitions: HashMap<(String, u32), Arc<Erased>>,
    /// The task running each saga this executor holds, with its epoch.
    runners: Mutex<HashMap<SagaId, (i64, JoinHandle<()>)>>,
    ticker: Mutex<Option<JoinHandle<()>>>,
    /// Wakes the ticker to claim at once (an operator's decision in this
    /// process set a saga going again).
    wake: Arc<tokio::sync::Notify>,
    stopped: AtomicBool,
    /// Set by a clean shutdown: tasks stop at their next wait (a backoff,
    /// a running action, the tick), never inside a database write.
    stop: tokio::sync::watch::Sender<bool>,
    #[cfg(feature = "crash-hooks")]
    hook: Option<crate::crash::CrashHook>,
}

impl Inner {
    /// Starts a task running the saga under `lease`, replacing a task of
    /// an older epoch (which would be fenced anyway). `fresh`: the saga as
    /// this executor just created it, so the task need not read it back.
    fn spawn(self: &Arc<Self>, lease: Lease, fresh: Option<Loaded>) {
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        let mut runners = self.runners.lock();
        if let Some((_, old)) = runners.remove(&lease.id) {
            old.abort();
        }
        let inner = self.clone();
        let task = tokio::spawn(async move {
            let run = AssertUnwindSafe(runner::run(&inner, lease, fresh)).catch_unwind();
            if run.await.is_err() {
                // Not a step (those are caught in the runner): a bug here.
                // Give the lease back rather than renew it with no task
                // behind it; a claim retries the saga.
                tracing::error!(saga = %lease.id, "saga task panicked; releasing its lease");
                let _ = inner.store.release(&inner.config.owner, Some(lease)).await;
            }
            let mut runners = inner.runners.lock();
            if runners
                .get(&lease.id)
                .is_some_and(|(e, _)| *e == lease.epoch)
            {
                runners.remove(&lease.id);
            }
        });
        runners.insert(lease.id, (lease.epoch, task));
    }

    /// Resolves once a clean shutdown begins.
    pub async fn stopping(&self) {
        let mut rx = self.stop.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Stops every task at its next wait and waits for them (at most
    /// `limit` each; then it is aborted).
    async fn stop(&self, limit: Duration) {
        self.stopped.store(true, Ordering::Release);
        self.stop.send_replace(true);
        let mut tasks: Vec<JoinHandle<()>> = self.ticker.lock().take().into_iter().collect();
        tasks.extend(self.runners.lock().drain().map(|(_, (_, t))| t));
        for mut t in tasks {
            if tokio::time::timeout(limit, &mut t).await.is_err() {
                t.abort();
            }
        }
        // Every saga task is done: no append is waiting.
        if let Some(w) = self.writer.lock().take() {
            w.abort();
        }
    }

    /// Aborts every task, leaving the leases to expire (as a crash would).
    pub fn abort(&self) {
        self.stopped.store(true, Ordering::Release);
        if let Some(t) = self.ticker.lock().take() {
            t.abort();
        }
        for (_, (_, task)) in self.runners.lock().drain() {
            task.abort();
        }
        if let Some(w) = self.writer.lock().take() {
            w.abort();
        }
    }

    /// Calls the crash hook; `true` means the executor has stopped.
    #[cfg(feature = "crash-hooks")]
    pub fn crash_at(&self, at: crate::crash::Boundary) -> bool {
        if self.stopped.load(Ordering::Acquire) {
            return true;
        }
        let crash = self.hook.as_ref().is_some_and(|h| h(&at));
        if crash {
            tracing::info!(?at, "crash hook: stopping the executor");
            self.abort();
        }
        crash
    }
}

/// After the first (run by `start`), renews this executor's leases and
/// claims free sagas every tick, or at once when an operator's decision
/// wakes it.
async fn tick(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(inner.config.tick) => {}
            // A permit stored while claiming is not lost: the next wait
            // takes it at once.
            _ = inner.wake.notified() => {}
            _ = inner.stopping() => return,
        }
        tick_once(&inner).await;
    }
}

/// Renews this executor's leases and claims free sagas, once.
async fn tick_once(inner: &Arc<Inner>) {
    let c = &inner.config;
    if let Err(e) = inner.store.renew(&c.owner, c.lease).await {
        tracing::warn!(error = %e, "saga executor: renewing leases failed");
    }
    match inner.store.claim(&c.owner, c.lease, c.claim_batch).await {
        Ok(leases) => {
            for lease in leases {
                tracing::info!(saga = %lease.id, epoch = lease.epoch, "saga executor: claimed");
                inner.spawn(lease, None);
            }
        }
        Err(e) => tracing::warn!(error = %e, "saga executor: claiming sagas failed"),
    }
}

/// Starts, cancels and reads sagas; cheap to clone. Dropping every handle
/// does not stop the executor: call [`shutdown`](Self::shutdown).
#[derive(Clone)]
pub struct ExecutorHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ExecutorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorHandle")
            .field("owner", &self.inner.config.owner)
            .finish_non_exhaustive()
    }
}

impl ExecutorHandle {
    /// Starts a saga of definition `name` at `version` with `initial`
    /// state: its row and `started` entry are durable before this returns,
    /// and this executor runs it.
    pub async fn start_saga<S: Serialize + 'static>(
        &self,
        name: &str,
        version: u32,
        initial: &S,
    ) -> Result<SagaId, StartError> {
        self.start(name, version, initial, None).await
    }

    /// [`start_saga`](Self::start_saga) with a deadline: if the pivot has
    /// not started `within` from now, the saga compensates. (After the
    /// pivot starts, the deadline no longer applies.)
    pub async fn start_saga_within<S: Serialize + 'static>(
        &self,
        name: &str,
        version: u32,
        initial: &S,
        within: Duration,
    ) -> Result<SagaId, StartError> {
        let deadline = now_ms().saturating_add(within.as_millis().min(i64::MAX as u128) as i64);
        self.start(name, version, initial, Some(deadline)).await
    }

    async fn start<S: Serialize + 'static>(
        &self,
        name: &str,
        version: u32,
        initial: &S,
        deadline_ms: Option<i64>,
    ) -> Result<SagaId, StartError> {
        let unknown = || StartError::UnknownDefinition {
            name: name.to_owned(),
            version,
        };
        let def = self
            .inner
            .definitions
            .get(&(name.to_owned(), version))
            .ok_or_else(unknown)?;
        if def.state_type != TypeId::of::<S>() {
            return Err(StartError::WrongStateType {
                name: name.to_owned(),
                version,
            });
        }
        let state = serde_json::to_value(initial).map_err(StartError::State)?;
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(StartError::ShutDown);
        }
        let c = &self.inner.config;
        let saga = NewSaga {
            id: SagaId::new(),
            name: name.to_owned(),
            version,
            state: state.clone(),
            deadline_ms,
        };
        let lease = self
            .inner
            .store
            .create(saga, &c.owner, c.lease)
            .await
            .map_err(StartError::Store)?;
        // What the store just wrote: a running saga whose log holds its
        // `started` entry (the log's own time is not read by the runner).
        let fresh = Loaded {
            info: SagaInfo {
                id: lease.id,
                name: name.to_owned(),
                version,
                status: Status::Running,
                state: state.clone(),
                reason: None,
            },
            deadline_ms,
            cancel_requested: false,
            log: vec![LogEntry {
                n: 1,
                kind: Kind::Started,
                step: None,
                state: Some(state),
                error: None,
                epoch: lease.epoch,
                at_ms: now_ms(),
            }],
        };
        self.inner.spawn(lease, Some(fresh));
        Ok(lease.id)
    }

    /// Cancels a running saga: it compensates its completed steps. Refused
    /// once its pivot has started ([`CancelError::PastPivot`]). Works for a
    /// saga any executor runs; the one running it compensates before its
    /// next step.
    pub async fn cancel(&self, id: SagaId) -> Result<(), CancelError> {
        self.inner.store.cancel(id).await
    }

    /// The saga as its row says now.
    pub async fn saga(&self, id: SagaId) -> Result<SagaInfo, Error> {
        match self.inner.store.load(id).await? {
            Some(l) => Ok(l.info),
            None => Err(Error::NotFound(id)),
        }
    }

    /// The saga's whole log, oldest first.
    pub async fn history(&self, id: SagaId) -> Result<Vec<LogEntry>, Error> {
        match self.inner.store.load(id).await? {
            Some(l) => Ok(l.log),
            None => Err(Error::NotFound(id)),
        }
    }

    /// Waits until the saga is no longer running or compensating (it
    /// completed, compensated, is stuck or paused), reading its row every
    /// `poll`.
    pub async fn wait(&self, id: SagaId, poll: Duration) -> Result<SagaInfo, Error> {
        loop {
            let info = self.saga(id).await?;
            if !info.status.is_active() {
                return Ok(info);
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Stops the executor and gives its sagas back, so another executor
    /// can take them at once. Each saga's task stops at its next wait: a
    /// step running now is cut off where it is (its outcome is unknown, and
    /// whoever resumes the saga applies the step's rule); a log write in
    /// flight finishes first.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.inner.stop(Duration::from_secs(5)).await;
        self.inner
            .store
            .release(&self.inner.config.owner, None)
            .await
    }

    /// An [`Operator`](crate::Operator) over this executor's store, to
    /// list sagas and decide about stuck and paused ones. A saga one of
    /// its decisions sets going again is claimed by this executor at once
    /// (executors in other processes would find it at their next tick).
    pub fn operator(&self) -> crate::Operator {
        crate::Operator::over(self.inner.store.clone(), self.inner.wake.clone())
    }

    /// Stops the executor as a crash would: every task aborted, no lease
    /// given back (another executor takes the sagas once the leases
    /// expire).
    pub fn abort(&self) {
        self.inner.abort();
    }
}

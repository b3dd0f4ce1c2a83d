//! Everything the tour runs, started in one place: the dependencies, the
//! clients, the saga log and the outbox in the store (SQLite or
//! PostgreSQL), the executor, the relay and its consumer (on the in-process
//! channel or NATS JetStream), the storefront and the load.

use crate::clients::Clients;
use crate::dependencies::{self, Dependencies};
use crate::events::{self, Broker, Consumed, Consumer};
use crate::load::Load;
use crate::orders;
use crate::store::Store;
use crate::storefront::{self, Guards, Shop};
use ballast::prelude::BoxError;
use ballast_outbox::RelayHandle;
use ballast_saga::ExecutorHandle;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// The running tour.
pub struct World {
    pub deps: Dependencies,
    pub clients: Arc<Clients>,
    pub store: Arc<Store>,
    pub broker: Broker,
    /// The executor now (`None` while it is down), shared with the
    /// storefront.
    pub executor: Arc<RwLock<Option<ExecutorHandle>>>,
    /// How many executors and relays were started (their names' numbers).
    pub generation: AtomicUsize,
    relay: Mutex<Option<RelayHandle>>,
    pub consumed: Arc<Consumed>,
    consumer: Mutex<Option<Consumer>>,
    pub storefront: SocketAddr,
    pub guards: Guards,
    pub load: Load,
    /// The scenario's phase now (an index).
    pub phase: AtomicUsize,
    /// When each phase began, and the drain, in seconds since the load
    /// started.
    pub phase_starts: Mutex<Vec<f64>>,
}

impl World {
    /// Starts everything but the load on `store` and `broker`; `received`
    /// is the channel's other end (with the channel broker).
    pub async fn start(
        store: Arc<Store>,
        broker: Broker,
        received: Option<ballast_outbox::publish::Receiver>,
        per_client: u32,
    ) -> Result<World, BoxError> {
        let (deps, addrs) = dependencies::start().await?;
        let clients = Arc::new(Clients::new(addrs)?);
        let (consumed, consumer) = events::consumer(&store, &broker, received).await?;
        let executor = orders::executor(&store, &clients, "executor-1").await?;
        let relay = events::relay(&store, &broker, "relay-1");
        let executor = Arc::new(RwLock::new(Some(executor)));
        let (storefront, guards) = storefront::start(Shop {
            executor: executor.clone(),
            clients: clients.clone(),
        })
        .await?;
        Ok(World {
            deps,
            clients,
            store,
            broker,
            executor,
            generation: AtomicUsize::new(1),
            relay: Mutex::new(Some(relay)),
            consumed,
            consumer: Mutex::new(Some(consumer)),
            storefront,
            guards,
            load: Load::new(per_client),
            phase: AtomicUsize::new(0),
            phase_starts: Mutex::default(),
        })
    }

    /// Moves to phase `i` (the drain after the last), `since` the load
    /// started.
    pub fn enter(&self, i: usize, since: Instant) {
        // Relaxed: read by the sampler, for labels only.
        self.phase.store(i, Ordering::Relaxed);
        self.phase_starts
            .lock()
            .unwrap()
            .push(since.elapsed().as_secs_f64());
    }

    /// Aborts the executor and the relay, as a crash would: their tasks
    /// stop where they are and their leases are left to expire.
    pub fn crash(&self) {
        if let Some(h) = self.executor.write().unwrap().take() {
            h.abort();
        }
        if let Some(r) = self.relay.lock().unwrap().take() {
            r.abort();
        }
    }

    /// Starts a new executor and a new relay under new names; they take
    /// the sagas and partitions over once the old leases expire.
    pub async fn restart(&self) -> Result<usize, BoxError> {
        // Relaxed: only the scenario restarts, one at a time.
        let n = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let h = orders::executor(&self.store, &self.clients, &format!("executor-{n}")).await?;
        *self.executor.write().unwrap() = Some(h);
        let r = events::relay(&self.store, &self.broker, &format!("relay-{n}"));
        *self.relay.lock().unwrap() = Some(r);
        Ok(n)
    }

    /// Stops the executor, the relay and the consumer cleanly (after the
    /// drain).
    pub async fn shutdown(&self) {
        let h = self.executor.write().unwrap().take();
        if let Some(h) = h {
            let _ = h.shutdown().await;
        }
        let r = self.relay.lock().unwrap().take();
        if let Some(r) = r {
            r.shutdown().await;
        }
        let c = self.consumer.lock().unwrap().take();
        if let Some(c) = c {
            c.stop().await;
        }
    }
}

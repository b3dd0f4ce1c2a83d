//! Keyed breakers: one breaker per key (host, endpoint, tenant), so one
//! failing host opens only its own circuit while calls to the others
//! flow.
//!
//! [`KeyedBreakers`] holds a breaker per key, each created on the key's
//! first call from one [`Config`](crate::Config). Memory is bounded: at
//! most [`KeyedSettings::max_keys`] keys, and keys unused for
//! [`KeyedSettings::idle_timeout`] are evicted, a few for each new key,
//! but only while their breakers let calls through: a tripped breaker
//! (open, half-open, recovering, forced open) is never evicted.
//! [`KeyedCircuitBreakerLayer`] picks the key from each request with a
//! function of yours.
//!
//! # When the registry is full of live keys
//!
//! Keys may come from the internet (a client id, a host in a URL), so
//! whoever sends requests may mint new keys by the million. Once every
//! slot holds a live key (used within the idle timeout, or with a tripped
//! breaker), a new key's calls go through one
//! shared [`overflow`](KeyedBreakers::overflow) breaker built from the
//! same config: never unguarded, never refused for want of room, and never
//! at the cost of an existing key's breaker. The keys held keep their
//! breakers (an open circuit stays open however many keys arrive), and
//! the work a new key causes is bounded: one lookup, and at most
//! [`EVICTION_STEP`] entries examined by the eviction hand.
//! [`KeyedBreakers::stats`] counts overflowed keys and the hand's work.
//!
//! ```
//! use ballast_circuit_breaker::keyed::{KeyedBreakers, KeyedSettings};
//! use ballast_circuit_breaker::{BoxError, Config, Rejected, SlidingWindow, State};
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let breakers = KeyedBreakers::<String>::new(
//!     Config::builder()
//!         .name("upstream")
//!         .sliding_window(SlidingWindow::count(10))
//!         .minimum_calls(3)
//!         .wait_in_open(Duration::from_secs(30))
//!         .build()?,
//!     KeyedSettings::builder()
//!         .max_keys(1_000)
//!         .idle_timeout(Duration::from_secs(600))
//!         .build()?,
//! );
//! breakers.on_state_change(|host, e| println!("{host}: {} -> {}", e.from, e.to));
//!
//! // Requests name a host; "b.internal" is down.
//! let upstream = service_fn(|(host, path): (String, &'static str)| async move {
//!     if host == "b.internal" {
//!         Err(std::io::Error::other("connection refused"))
//!     } else {
//!         Ok(format!("200 {host}{path}"))
//!     }
//! });
//! let mut client = ServiceBuilder::new()
//!     .layer(breakers.layer(|(host, _): &(String, &str)| host.clone()))
//!     .service(upstream);
//!
//! for _ in 0..3 {
//!     let err = client.ready().await?.call(("b.internal".into(), "/")).await.unwrap_err();
//!     assert!(err.downcast_ref::<Rejected>().is_none()); // the host's own error
//! }
//! // b's circuit is open: its calls are refused at once...
//! let err = client.ready().await?.call(("b.internal".into(), "/")).await.unwrap_err();
//! assert!(err.downcast_ref::<Rejected>().is_some());
//! assert_eq!(breakers.get("b.internal").map(|b| b.state()), Some(State::Open));
//! // ...while other hosts are called as usual.
//! let ok = client.ready().await?.call(("a.internal".into(), "/items")).await?;
//! assert_eq!(ok, "200 a.internal/items");
//! assert_eq!(breakers.len(), 2);
//! # Ok(()) }
//! ```
//!
//! # Implementation notes
//!
//! - Keys live in 16 shards, each a `parking_lot::RwLock<HashMap>`, picked
//!   by the key's hash. A call for an existing key takes one read lock;
//!   creating a key takes its shard's write lock. No thread ever holds two
//!   shard locks.
//! - `reserved` counts slots: entries plus inserts under way. An insert
//!   takes a slot (compare-exchange below `max_keys`) before it takes its
//!   shard's lock, and takes the overflow breaker if none is free; a
//!   removal gives its slot back after the entry is gone. So the entries
//!   never exceed `max_keys`. Two callers creating the same key both take
//!   a slot; the second finds the first's breaker under the write lock and
//!   gives its slot back.
//! - Each entry's last use is nanoseconds on the registry's tokio clock,
//!   stored (Relaxed) only when it moved by more than
//!   `min(idle_timeout / 64, 100ms)`, so busy keys do not write a shared
//!   line on every call. Idleness is judged to within that granularity.
//! - Eviction is a clock sweep: each shard keeps its keys in a vector too
//!   (each entry knows its slot, so removal is a `swap_remove`), and a
//!   hand walks the shards in turn. Once the registry is half full, every
//!   new key moves the hand over at most [`EVICTION_STEP`] entries,
//!   removing the idle calm ones, under one shard's write lock at a time
//!   (at most `SHARDS + 1` locks when shards are nearly empty). The hand
//!   is a `try_lock`: a new key never waits for another's step. So a full
//!   registry costs O(1) per new key, and a lookup waits at most for a
//!   step over a few entries. A round over every key that frees nothing
//!   also notes the soonest any key it saw could be freed (a calm key's
//!   idle time; for a tripped one, the touch granularity), and steps rest
//!   until then: a flood of new keys into a registry full of live ones
//!   costs one round, then no write lock at all. [`evict_idle`](KeyedBreakers::evict_idle)
//!   sweeps every shard at once.
//! - Each shard holds every key twice (in its map and its vector): a
//!   `String` key costs a second allocation.
//! - With feature `metrics` the registry registers one set of series, under
//!   its config's name, when it is built; each key's breaker reports
//!   through clones of those handles (no registration per key). An entry
//!   counts its breaker in the key gauges from its insert (under the
//!   shard's write lock) until it is dropped (removed, evicted, or the
//!   registry dropped), each under the breaker's transition lock, which
//!   its transitions hold while moving the gauges: so a breaker that
//!   leaves while a call is in flight on it, then trips, moves nothing.
//! - Each key's breaker has one listener that forwards its events, with
//!   the key, to the registry's current listener list, so listeners added
//!   later reach breakers created earlier.
//! - An admitted call holds the same permit guard and future as
//!   [`CircuitBreaker`](crate::CircuitBreaker)'s: cancellation and panics
//!   are recorded the same way, on the breaker the call was admitted by.
//!   The future holds that key's breaker (the reference the lookup took)
//!   and a copy of the classifier, so a call allocates nothing (a key
//!   function that builds its key, such as `host.clone()` of a `String`,
//!   allocates that key; return a cheap key, such as an id or an
//!   `Arc<str>`, where calls are hot).

mod layer;
mod registry;
mod service;
mod settings;
mod shard;
mod stats;

pub use layer::KeyedCircuitBreakerLayer;
pub use registry::{EVICTION_STEP, KeyedBreakers};
pub use service::KeyedCircuitBreaker;
pub use settings::{KeyedSettings, KeyedSettingsBuilder};
pub use stats::KeyedStats;

//! Keyed breakers: a breaker per key behind one layer, driven on tokio's
//! paused clock. Keys are independent; clones share the registry; the
//! number of keys is bounded; only idle calm keys are evicted, never a
//! tripped or live one, and new keys that find no room share the overflow
//! breaker; a flood of new keys leaves an open breaker open and costs a
//! bounded amount of eviction work per key; a key re-created after
//! eviction starts closed; invalid settings are a `ConfigError`.

mod common;

use ballast_circuit_breaker::keyed::{EVICTION_STEP, KeyedBreakers, KeyedSettings};
use ballast_circuit_breaker::{BoxError, Config, Outcome, Reason, Rejected, State, StateChange};
use common::{WAIT, builder};
use futures::FutureExt;
use std::future::{Future, pending};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::advance;
use tower::{Service, ServiceExt, service_fn};

const IDLE: Duration = Duration::from_secs(60);

/// The config of `common::builder` with 1 probe, named "hosts".
fn config() -> Config {
    builder(1).name("hosts").build().expect("valid config")
}

fn settings(max_keys: usize) -> KeyedSettings {
    KeyedSettings::builder()
        .max_keys(max_keys)
        .idle_timeout(IDLE)
        .build()
        .expect("valid settings")
}

fn registry(max_keys: usize) -> KeyedBreakers<String> {
    KeyedBreakers::new(config(), settings(max_keys))
}

/// A request to a host; the host fails when `fail` is set.
#[derive(Debug, Clone)]
struct Req {
    host: &'static str,
    fail: bool,
}

fn ok(host: &'static str) -> Req {
    Req { host, fail: false }
}

fn bad(host: &'static str) -> Req {
    Req { host, fail: true }
}

/// A host client behind a breaker per host.
fn client(
    breakers: &KeyedBreakers<String>,
) -> impl Service<Req, Response = &'static str, Error = BoxError> + Clone {
    let upstream = service_fn(|req: Req| async move {
        if req.fail {
            Err(io::Error::other("connection refused"))
        } else {
            Ok(req.host)
        }
    });
    tower::ServiceBuilder::new()
        .layer(breakers.layer(|req: &Req| req.host.to_owned()))
        .service(upstream)
}

async fn send<S>(svc: &mut S, req: Req) -> Result<&'static str, BoxError>
where
    S: Service<Req, Response = &'static str, Error = BoxError>,
{
    svc.ready().await?.call(req).await
}

fn is_rejection(r: &Result<&'static str, BoxError>) -> bool {
    matches!(r, Err(e) if e.downcast_ref::<Rejected>().is_some())
}

/// Four failures through `svc` open `host`'s breaker.
async fn trip<S>(svc: &mut S, breakers: &KeyedBreakers<String>, host: &'static str)
where
    S: Service<Req, Response = &'static str, Error = BoxError>,
{
    for _ in 0..4 {
        let r = send(svc, bad(host)).await;
        assert!(r.is_err() && !is_rejection(&r), "the host's own error");
    }
    assert_eq!(breakers.get(host).map(|b| b.state()), Some(State::Open));
}

fn sorted_keys(breakers: &KeyedBreakers<String>) -> Vec<String> {
    let mut keys = breakers.keys();
    keys.sort();
    keys
}

#[tokio::test(start_paused = true)]
async fn a_failing_key_opens_only_its_own_breaker() {
    let breakers = registry(100);
    let mut svc = client(&breakers);

    assert_eq!(send(&mut svc, ok("a")).await.unwrap(), "a");
    trip(&mut svc, &breakers, "b").await;

    let refused = send(&mut svc, ok("b")).await.unwrap_err();
    let rejected = refused
        .downcast_ref::<Rejected>()
        .expect("refused by b's breaker");
    assert_eq!(rejected.reason(), Reason::CircuitOpen);
    assert_eq!(rejected.retry_after_hint(), Some(WAIT));

    // Another key, existing or new, still passes.
    assert_eq!(send(&mut svc, ok("a")).await.unwrap(), "a");
    assert_eq!(send(&mut svc, ok("c")).await.unwrap(), "c");
    assert_eq!(breakers.get("a").unwrap().state(), State::Closed);
    assert_eq!(breakers.get("c").unwrap().state(), State::Closed);
    assert_eq!(breakers.get("b").unwrap().metrics().rejected, 1);
    assert_eq!(breakers.get("a").unwrap().metrics().rejected, 0);
    assert_eq!(sorted_keys(&breakers), ["a", "b", "c"]);
}

#[tokio::test(start_paused = true)]
async fn a_key_recovers_through_half_open_on_its_own_breaker() {
    let breakers = registry(100);
    let mut svc = client(&breakers);
    trip(&mut svc, &breakers, "b").await;

    advance(WAIT).await;
    assert_eq!(send(&mut svc, ok("b")).await.unwrap(), "b");
    assert_eq!(breakers.get("b").unwrap().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn clones_of_the_service_share_the_registry() {
    let breakers = registry(100);
    let mut first = client(&breakers);
    let mut second = first.clone();

    trip(&mut first, &breakers, "b").await;
    assert!(is_rejection(&send(&mut second, ok("b")).await));
    assert_eq!(send(&mut second, ok("a")).await.unwrap(), "a");
    // The key `second` created is the one `first` sees.
    let a = breakers.get("a").unwrap();
    send(&mut first, ok("a")).await.unwrap();
    assert_eq!(a.metrics().calls, 2);
    assert_eq!(breakers.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn handle_clones_and_layers_share_one_registry() {
    let breakers = registry(100);
    let handle = breakers.clone();
    let mut svc = client(&handle);
    send(&mut svc, ok("a")).await.unwrap();
    assert!(breakers.get("a").is_some());
    assert_eq!(breakers.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn new_keys_beyond_max_keys_share_the_overflow_breaker_and_len_never_exceeds_it() {
    let breakers = registry(3);
    let mut svc = client(&breakers);
    let hosts = ["h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"];
    for (i, host) in hosts.into_iter().enumerate() {
        advance(Duration::from_secs(1)).await;
        assert_eq!(send(&mut svc, ok(host)).await.unwrap(), host);
        assert_eq!(breakers.len(), (i + 1).min(3));
    }
    // Nothing was idle: the keys held kept their breakers, the rest were
    // called through the overflow breaker.
    assert_eq!(sorted_keys(&breakers), ["h0", "h1", "h2"]);
    assert_eq!(breakers.stats().overflowed, 5);
    assert_eq!(breakers.overflow().metrics().calls, 5);
    assert_eq!(breakers.overflow().config().name(), "hosts/overflow");
}

#[tokio::test(start_paused = true)]
async fn the_overflow_breaker_trips_and_refuses_like_any_other() {
    let breakers = registry(1);
    let mut svc = client(&breakers);
    send(&mut svc, ok("held")).await.unwrap();
    for host in ["n1", "n2", "n3", "n4"] {
        let r = send(&mut svc, bad(host)).await;
        assert!(r.is_err() && !is_rejection(&r), "the host's own error");
    }
    assert_eq!(breakers.overflow().state(), State::Open);
    assert!(
        is_rejection(&send(&mut svc, ok("n5")).await),
        "guarded, not let through"
    );
    assert_eq!(
        send(&mut svc, ok("held")).await.unwrap(),
        "held",
        "held keys unaffected"
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_in_use_is_never_evicted_to_make_room() {
    let breakers = registry(3);
    for host in ["a", "b", "c"] {
        breakers.breaker(&host.to_owned());
        advance(Duration::from_secs(1)).await;
    }
    let d = breakers.breaker(&"d".to_owned());
    assert_eq!(sorted_keys(&breakers), ["a", "b", "c"]);
    assert_eq!(d.config().name(), "hosts/overflow");
    // Once `a` has been idle for the timeout, the next new key takes its slot.
    advance(IDLE - Duration::from_secs(3)).await;
    breakers.breaker(&"e".to_owned());
    assert_eq!(sorted_keys(&breakers), ["b", "c", "e"]);
}

#[tokio::test(start_paused = true)]
async fn looking_a_key_up_with_get_neither_creates_nor_uses_it() {
    let breakers = registry(2);
    assert!(breakers.get("a").is_none());
    assert!(breakers.is_empty());

    breakers.breaker(&"a".to_owned());
    advance(IDLE / 2).await;
    breakers.breaker(&"b".to_owned());
    advance(IDLE / 2).await;
    // `get` is not a use: `a` is idle, and makes room for `c`.
    assert!(breakers.get("a").is_some());
    breakers.breaker(&"c".to_owned());
    assert_eq!(sorted_keys(&breakers), ["b", "c"]);
}

#[tokio::test(start_paused = true)]
async fn idle_keys_are_evicted_after_idle_timeout() {
    let breakers = registry(100);
    let mut svc = client(&breakers);
    send(&mut svc, ok("a")).await.unwrap();
    send(&mut svc, ok("b")).await.unwrap();

    advance(IDLE / 2).await;
    send(&mut svc, ok("b")).await.unwrap();
    assert_eq!(breakers.evict_idle(), 0, "nothing idle yet");

    advance(IDLE / 2).await;
    assert_eq!(breakers.evict_idle(), 1);
    assert_eq!(sorted_keys(&breakers), ["b"]);

    advance(IDLE / 2).await;
    assert_eq!(breakers.evict_idle(), 1);
    assert!(breakers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn idle_keys_make_room_before_a_recently_used_one_is_evicted() {
    let breakers = registry(3);
    for host in ["a", "b", "c"] {
        breakers.breaker(&host.to_owned());
    }
    advance(IDLE).await;
    breakers.breaker(&"c".to_owned());
    advance(Duration::from_secs(1)).await;
    // Full: every idle key goes at once, the recently used one stays.
    breakers.breaker(&"d".to_owned());
    assert_eq!(sorted_keys(&breakers), ["c", "d"]);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_not_evicted_while_idle_closed_ones_exist() {
    let breakers = registry(3);
    let mut svc = client(&breakers);
    trip(&mut svc, &breakers, "down").await;
    send(&mut svc, ok("a")).await.unwrap();
    send(&mut svc, ok("b")).await.unwrap();

    advance(IDLE).await;
    // All three are idle; only the closed ones are swept.
    assert_eq!(breakers.evict_idle(), 2);
    assert_eq!(sorted_keys(&breakers), ["down"]);

    send(&mut svc, ok("c")).await.unwrap();
    send(&mut svc, ok("d")).await.unwrap();
    advance(IDLE).await;
    // Full and every key idle: making room for `e` sweeps the closed ones.
    send(&mut svc, ok("e")).await.unwrap();
    assert_eq!(sorted_keys(&breakers), ["down", "e"]);
    // Still the same tripped breaker: its next call is a probe, not a fresh start.
    let down = breakers.get("down").unwrap();
    assert_eq!(down.state(), State::Open);
    send(&mut svc, ok("down")).await.unwrap();
    assert_eq!(down.state(), State::Closed, "closed by its probe");
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_outlasts_recently_used_closed_ones_when_full() {
    let breakers = registry(3);
    let mut svc = client(&breakers);
    trip(&mut svc, &breakers, "down").await;
    for host in ["a", "b", "c", "d"] {
        advance(Duration::from_secs(1)).await;
        send(&mut svc, ok(host)).await.unwrap();
    }
    // Nothing idle: `c` and `d` went through the overflow breaker.
    assert_eq!(sorted_keys(&breakers), ["a", "b", "down"]);
    assert_eq!(breakers.stats().overflowed, 2);
    assert!(is_rejection(&send(&mut svc, ok("down")).await));
}

#[tokio::test(start_paused = true)]
async fn an_idle_open_breaker_is_not_evicted_to_make_room() {
    let breakers = registry(2);
    let mut svc = client(&breakers);
    trip(&mut svc, &breakers, "down").await;
    advance(IDLE).await;
    send(&mut svc, ok("a")).await.unwrap();
    advance(Duration::from_secs(1)).await;
    // Full, nothing idle and calm: `b` overflows, `down` keeps its breaker.
    send(&mut svc, ok("b")).await.unwrap();
    assert_eq!(sorted_keys(&breakers), ["a", "down"]);
    assert_eq!(breakers.get("down").unwrap().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn when_every_key_is_tripped_a_new_key_evicts_none_and_gets_the_overflow_breaker() {
    let breakers = registry(2);
    let mut svc = client(&breakers);
    trip(&mut svc, &breakers, "x").await;
    advance(Duration::from_secs(1)).await;
    trip(&mut svc, &breakers, "y").await;
    advance(Duration::from_secs(1)).await;
    assert_eq!(send(&mut svc, ok("z")).await.unwrap(), "z");
    assert_eq!(sorted_keys(&breakers), ["x", "y"]);
    assert!(is_rejection(&send(&mut svc, ok("x")).await), "x still open");
    assert!(is_rejection(&send(&mut svc, ok("y")).await), "y still open");
}

/// How many new keys the flood test sends: a million in release; in a
/// debug build (`cargo test`) 200,000, which runs in a few seconds.
const FLOOD: u64 = if cfg!(debug_assertions) {
    200_000
} else {
    1_000_000
};

#[tokio::test(start_paused = true)]
async fn a_flood_of_new_keys_leaves_an_open_breaker_open_and_bounds_the_work_per_key() {
    const MAX: usize = 1_000;
    let breakers: KeyedBreakers<u64> = KeyedBreakers::new(config(), settings(MAX));
    let down = breakers.breaker(&0);
    for _ in 0..4 {
        down.try_acquire().unwrap().failure();
    }
    assert_eq!(down.state(), State::Open);
    let mut most = 0;
    let mut overflowed = 0;
    for key in 1..=FLOOD {
        // Time moves on, so flood keys go idle and are evicted as the hand
        // passes them; `down` goes idle too, but is open.
        if key % 1_000 == 0 {
            advance(Duration::from_secs(1)).await;
        }
        let before = breakers.stats().examined;
        let b = breakers.breaker(&key);
        most = most.max(breakers.stats().examined - before);
        overflowed += u64::from(b.config().name().ends_with("/overflow"));
        if key % 1_000 == 0 {
            assert!(breakers.len() <= MAX);
        }
    }
    assert!(
        most <= EVICTION_STEP as u64,
        "{most} entries examined for one key"
    );
    let stats = breakers.stats();
    assert!(stats.examined <= FLOOD * EVICTION_STEP as u64);
    assert_eq!(stats.overflowed, overflowed);
    assert!(stats.evicted > 0, "idle flood keys were evicted");
    // Still open, and still the same breaker: the flood outlasted its open
    // wait, so its next call is a half-open probe (a fresh breaker would be
    // closed), and the handle taken before the flood sees it.
    assert_eq!(
        breakers.get(&0).expect("never evicted").state(),
        State::Open
    );
    let probe = breakers.breaker(&0).try_acquire().expect("a probe");
    assert_eq!(down.state(), State::HalfOpen);
    drop(probe);
}

#[tokio::test(start_paused = true)]
async fn a_flood_into_a_registry_of_live_keys_rests_the_hand_after_one_round() {
    const MAX: u64 = 1_000;
    let breakers: KeyedBreakers<u64> = KeyedBreakers::new(config(), settings(MAX as usize));
    for key in 0..MAX {
        breakers.breaker(&key);
    }
    // Nothing can be idle before IDLE has passed: one round over the keys
    // shows it, and the hand rests (no write lock) for the rest of the flood.
    for key in MAX..MAX + 50_000 {
        breakers.breaker(&key);
    }
    let stats = breakers.stats();
    assert_eq!(stats.overflowed, 50_000);
    assert!(
        stats.examined <= 2 * MAX + 2 * EVICTION_STEP as u64,
        "{} entries examined",
        stats.examined
    );
    // Once the keys are idle, the hand wakes and new keys get their own.
    advance(IDLE).await;
    let fresh = breakers.breaker(&u64::MAX);
    assert_eq!(fresh.config().name(), "hosts");
    assert!(breakers.stats().evicted > 0);
}

#[tokio::test(start_paused = true)]
async fn a_key_recreated_after_eviction_starts_closed() {
    let breakers = registry(100);
    let mut svc = client(&breakers);
    trip(&mut svc, &breakers, "b").await;
    let old = breakers.get("b").unwrap();

    assert!(breakers.remove("b").is_some());
    assert!(breakers.get("b").is_none());
    assert_eq!(send(&mut svc, ok("b")).await.unwrap(), "b");
    let new = breakers.get("b").unwrap();
    assert_eq!(new.state(), State::Closed);
    assert_eq!(new.metrics().rejected, 0);
    assert_eq!(old.state(), State::Open, "the evicted breaker is untouched");

    // Evicted for idleness, the same.
    advance(IDLE).await;
    assert_eq!(breakers.evict_idle(), 1);
    assert_eq!(breakers.breaker(&"b".to_owned()).state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn listeners_hear_every_key_existing_and_future_with_the_key() {
    let breakers = registry(100);
    let mut svc = client(&breakers);
    send(&mut svc, ok("early")).await.unwrap();

    let log = Arc::new(Mutex::new(Vec::<(String, StateChange)>::new()));
    let sink = log.clone();
    breakers.on_state_change(move |key, e| sink.lock().unwrap().push((key.clone(), e.clone())));

    breakers.get("early").unwrap().force_open();
    trip(&mut svc, &breakers, "late").await;

    let seen: Vec<(String, State, State)> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(k, e)| (k.clone(), e.from, e.to))
        .collect();
    assert_eq!(
        seen,
        [
            ("early".to_owned(), State::Closed, State::ForcedOpen),
            ("late".to_owned(), State::Closed, State::Open),
        ]
    );
    assert!(log.lock().unwrap().iter().all(|(_, e)| &*e.name == "hosts"));
}

#[tokio::test(start_paused = true)]
async fn with_names_names_each_breaker_after_its_key() {
    let breakers = KeyedBreakers::with_names(config(), settings(10), |host: &String| {
        format!("hosts/{host}")
    });
    let names = Arc::new(Mutex::new(Vec::new()));
    let sink = names.clone();
    breakers.on_state_change(move |_, e| sink.lock().unwrap().push(e.name.to_string()));

    assert_eq!(breakers.breaker(&"a".to_owned()).config().name(), "hosts/a");
    breakers.breaker(&"b".to_owned()).force_open();
    assert_eq!(*names.lock().unwrap(), ["hosts/b"]);
    assert_eq!(breakers.config().name(), "hosts");
}

#[tokio::test(start_paused = true)]
async fn metrics_snapshot_has_every_key() {
    let breakers = registry(100);
    let mut svc = client(&breakers);
    send(&mut svc, ok("a")).await.unwrap();
    trip(&mut svc, &breakers, "b").await;

    let mut metrics = breakers.metrics();
    metrics.sort_by(|x, y| x.0.cmp(&y.0));
    let states: Vec<_> = metrics.iter().map(|(k, m)| (k.as_str(), m.state)).collect();
    assert_eq!(states, [("a", State::Closed), ("b", State::Open)]);
    assert_eq!(metrics[1].1.failures, 4);
}

#[tokio::test(start_paused = true)]
async fn layer_classifier_decides_what_counts_per_key() {
    let breakers = registry(100);
    // Errors count as nothing: the breaker never trips.
    let layer = breakers
        .layer(|req: &Req| req.host.to_owned())
        .classifier(|_: &Result<&'static str, io::Error>| Outcome::Ignore);
    let upstream = service_fn(|req: Req| async move {
        if req.fail {
            Err(io::Error::other("refused"))
        } else {
            Ok(req.host)
        }
    });
    let mut svc = tower::ServiceBuilder::new().layer(layer).service(upstream);
    for _ in 0..8 {
        assert!(!is_rejection(&send(&mut svc, bad("b")).await));
    }
    assert_eq!(breakers.get("b").unwrap().state(), State::Closed);
    assert_eq!(breakers.get("b").unwrap().metrics().calls, 0);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_gives_back_its_keys_probe_slot() {
    type Fut = Pin<Box<dyn Future<Output = Result<&'static str, io::Error>> + Send>>;
    let breakers = registry(100);
    // Calls with `fail` set hang forever; the others fail at once.
    let upstream = service_fn(|req: Req| -> Fut {
        if req.fail {
            Box::pin(pending())
        } else {
            Box::pin(async { Err(io::Error::other("down")) })
        }
    });
    let mut svc = tower::ServiceBuilder::new()
        .layer(breakers.layer(|req: &Req| req.host.to_owned()))
        .service(upstream);
    for _ in 0..4 {
        let _ = send(&mut svc, ok("b")).await;
    }
    advance(WAIT).await;

    // The one probe hangs and is dropped: its slot comes back.
    let probe = svc.ready().await.unwrap().call(bad("b"));
    assert_eq!(breakers.get("b").unwrap().state(), State::HalfOpen);
    assert!(
        is_rejection(&send(&mut svc, bad("b")).await),
        "the only slot is taken"
    );
    let mut probe = probe;
    assert!((&mut probe).now_or_never().is_none());
    drop(probe);
    assert_eq!(breakers.get("b").unwrap().metrics().half_open_probes, 0);
    let again = svc.ready().await.unwrap().call(bad("b"));
    assert!(
        again.now_or_never().is_none(),
        "admitted as the probe again"
    );
}

#[test]
fn invalid_settings_are_config_errors() {
    let e = KeyedSettings::builder().max_keys(0).build().unwrap_err();
    assert_eq!(
        (e.component(), e.field()),
        ("keyed circuit breaker", "max_keys")
    );
    assert_eq!(
        e.to_string(),
        "invalid keyed circuit breaker config: max_keys must be at least 1, got 0"
    );

    let e = KeyedSettings::builder()
        .idle_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "idle_timeout");

    let s = KeyedSettings::builder()
        .max_keys(1)
        .idle_timeout(Duration::from_nanos(1))
        .build()
        .expect("the boundary values are valid");
    assert_eq!(
        (s.max_keys(), s.idle_timeout()),
        (1, Duration::from_nanos(1))
    );
    assert_eq!(KeyedSettings::default().max_keys(), 10_000);
}

#[test]
fn concurrent_inserts_stay_within_max_keys() {
    let breakers: KeyedBreakers<u32> = KeyedBreakers::new(config(), settings(8));
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let breakers = &breakers;
            s.spawn(move || {
                for i in 0..500 {
                    // Half the keys are shared between threads, half not.
                    let key = if i % 2 == 0 {
                        i % 20
                    } else {
                        1000 * (t + 1) + i
                    };
                    breakers.breaker(&key).try_acquire().unwrap().success();
                }
            });
        }
    });
    assert!(breakers.len() <= 8, "{} keys", breakers.len());
    assert!(!breakers.is_empty());
}

#[test]
fn concurrent_inserts_removals_and_evictions_keep_the_registry_consistent() {
    // Keys go idle after 1ms of real time, so the hand evicts while other
    // threads insert, remove and sweep.
    let settings = KeyedSettings::builder()
        .max_keys(64)
        .idle_timeout(Duration::from_millis(1))
        .build()
        .unwrap();
    let breakers: KeyedBreakers<u32> = KeyedBreakers::new(config(), settings);
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let breakers = &breakers;
            s.spawn(move || {
                for i in 0..3_000u32 {
                    let key = (i * 7 + t) % 200;
                    match i % 50 {
                        0 => {
                            breakers.evict_idle();
                        }
                        1..=5 => {
                            breakers.remove(&key);
                        }
                        _ => breakers.breaker(&key).try_acquire().unwrap().success(),
                    }
                }
            });
        }
    });
    let stats = breakers.stats();
    assert!(breakers.len() <= 64, "{} keys", breakers.len());
    // Every key is held once and reachable by `get`.
    let keys = breakers.keys();
    assert_eq!(keys.len(), breakers.len());
    assert!(keys.iter().all(|k| breakers.get(k).is_some()));
    assert!(stats.inserted >= keys.len() as u64);
}

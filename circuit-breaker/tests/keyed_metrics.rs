//! With feature `metrics`, a keyed registry reports as one breaker under
//! its config's name, whatever its keys: calls, refusals and transitions
//! summed over the keys, and `ballast_circuit_breaker_keys`, how many
//! keys are in each state, exact as keys trip, recover, arrive and are
//! evicted. Seen here by a recording recorder.

use ballast_circuit_breaker::keyed::{KeyedBreakers, KeyedSettings};
use ballast_circuit_breaker::{Config, Rejected, SlidingWindow};
use ballast_core::metric_names as names;
use ballast_test_support::metrics::{Recording, recording};
use std::collections::BTreeMap;
use std::time::Duration;

const STATES: [&str; 7] = [
    "closed",
    "open",
    "half_open",
    "recovering",
    "disabled",
    "forced_open",
    "metrics_only",
];

/// Trips on half of at least two calls failing; open for 10 s; one probe.
fn config() -> Config {
    Config::builder()
        .name("upstream")
        .sliding_window(SlidingWindow::count(4))
        .minimum_calls(2)
        .failure_rate_threshold(50.0)
        .wait_in_open(Duration::from_secs(10))
        .half_open_permits(1)
        .build()
        .unwrap()
}

fn settings(max_keys: usize) -> KeyedSettings {
    KeyedSettings::builder()
        .max_keys(max_keys)
        .idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A registry whose series went to `recording`.
fn registry(recording: &'static Recording, max_keys: usize) -> KeyedBreakers<&'static str> {
    metrics::with_local_recorder(&recording, || {
        KeyedBreakers::new(config(), settings(max_keys))
    })
}

/// The key gauges of "upstream" that are not zero, by state.
fn keys(recording: &Recording) -> BTreeMap<&'static str, f64> {
    STATES
        .iter()
        .map(|s| {
            let labels = [("name", "upstream"), ("state", *s)];
            (*s, recording.gauge(names::CIRCUIT_BREAKER_KEYS, &labels))
        })
        .filter(|(_, n)| *n != 0.0)
        .collect()
}

fn expect(pairs: &[(&'static str, f64)]) -> BTreeMap<&'static str, f64> {
    pairs.iter().copied().collect()
}

fn counter(recording: &Recording, name: &str, label: (&str, &str)) -> u64 {
    recording.counter(name, &[("name", "upstream"), label])
}

/// One call through `key`'s breaker (created on first use).
fn call(
    breakers: &KeyedBreakers<&'static str>,
    key: &'static str,
    ok: bool,
) -> Result<(), Rejected> {
    let permit = breakers.breaker(&key).try_acquire()?;
    if ok {
        permit.success();
    } else {
        permit.failure();
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn key_gauges_count_keys_in_each_state_as_they_trip_probe_and_close() {
    let recording = recording();
    let breakers = registry(recording, 100);
    // Keys arrive after the recorder's scope: they report through the
    // registry's handles all the same.
    for key in ["a", "b", "c"] {
        call(&breakers, key, true).unwrap();
    }
    assert_eq!(keys(recording), expect(&[("closed", 3.0)]));

    // a and b fail: half of their calls failed, both open.
    call(&breakers, "a", false).unwrap();
    call(&breakers, "b", false).unwrap();
    assert_eq!(keys(recording), expect(&[("closed", 1.0), ("open", 2.0)]));
    let err = call(&breakers, "a", true).unwrap_err();
    assert_eq!(err.reason(), ballast_core::Reason::CircuitOpen);

    // a's wait ends: its probe takes it to half-open, then closed.
    tokio::time::advance(Duration::from_secs(10)).await;
    let probe = breakers.breaker(&"a").try_acquire().unwrap();
    assert_eq!(
        keys(recording),
        expect(&[("closed", 1.0), ("open", 1.0), ("half_open", 1.0)])
    );
    probe.success();
    assert_eq!(keys(recording), expect(&[("closed", 2.0), ("open", 1.0)]));

    // An operator forces b open, then disables c.
    breakers.get("b").unwrap().force_open();
    breakers.get("c").unwrap().disable();
    assert_eq!(
        keys(recording),
        expect(&[("closed", 1.0), ("forced_open", 1.0), ("disabled", 1.0)])
    );

    // The counters are the keys' sums, under the registry's name.
    let calls = names::CIRCUIT_BREAKER_CALLS;
    assert_eq!(counter(recording, calls, ("outcome", "success")), 4);
    assert_eq!(counter(recording, calls, ("outcome", "failure")), 2);
    let refusals = names::CIRCUIT_BREAKER_REFUSALS;
    assert_eq!(counter(recording, refusals, ("reason", "circuit_open")), 1);
    let transitions = names::CIRCUIT_BREAKER_TRANSITIONS;
    assert_eq!(counter(recording, transitions, ("to", "open")), 2);
    assert_eq!(counter(recording, transitions, ("to", "half_open")), 1);
    assert_eq!(counter(recording, transitions, ("to", "closed")), 1);
    assert_eq!(counter(recording, transitions, ("to", "forced_open")), 1);
    // A registry has no one state: no per-registry state gauge.
    assert!(
        !recording
            .series()
            .iter()
            .any(|s| s.starts_with(names::CIRCUIT_BREAKER_STATE) && s.contains("name=upstream,"))
    );
}

#[tokio::test(start_paused = true)]
async fn evicted_and_removed_keys_leave_the_gauges_and_their_later_moves_are_not_counted() {
    let recording = recording();
    let breakers = registry(recording, 100);
    for key in ["a", "b", "c", "d"] {
        call(&breakers, key, true).unwrap();
    }
    // c trips; d has a call in flight when it is evicted.
    call(&breakers, "c", false).unwrap();
    let in_flight = breakers.breaker(&"d").try_acquire().unwrap();
    assert_eq!(keys(recording), expect(&[("closed", 3.0), ("open", 1.0)]));

    // Past the idle timeout, the calm keys go; the open one stays.
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(breakers.evict_idle(), 3);
    assert_eq!(keys(recording), expect(&[("open", 1.0)]));

    // d's call ends, failed, on the evicted breaker, which trips: no key
    // of the registry moved, so the gauges stay. The call still counts.
    in_flight.failure();
    assert_eq!(keys(recording), expect(&[("open", 1.0)]));
    let calls = names::CIRCUIT_BREAKER_CALLS;
    assert_eq!(counter(recording, calls, ("outcome", "failure")), 2);

    // Removing c takes it out; closing the breaker handed back moves nothing.
    let c = breakers.remove("c").unwrap();
    assert_eq!(keys(recording), expect(&[]));
    c.force_closed();
    assert_eq!(keys(recording), expect(&[]));

    // c again is a new, closed key.
    call(&breakers, "c", true).unwrap();
    assert_eq!(keys(recording), expect(&[("closed", 1.0)]));
}

#[tokio::test(start_paused = true)]
async fn keys_evicted_by_the_hand_for_new_ones_leave_the_gauges() {
    let recording = recording();
    let breakers = registry(recording, 4);
    for key in ["a", "b", "c", "d"] {
        call(&breakers, key, true).unwrap();
    }
    call(&breakers, "a", false).unwrap();
    assert_eq!(keys(recording), expect(&[("closed", 3.0), ("open", 1.0)]));
    tokio::time::advance(Duration::from_secs(61)).await;
    // A new key in a full registry moves the eviction hand, which frees
    // the idle calm keys it passes.
    call(&breakers, "e", true).unwrap();
    let evicted = breakers.stats().evicted;
    assert!(evicted >= 1, "the hand freed a slot for e");
    assert!(breakers.get("e").is_some());
    assert_eq!(
        keys(recording),
        expect(&[("closed", (4 - evicted) as f64), ("open", 1.0)])
    );
    assert_eq!(breakers.len() as u64, 5 - evicted);
}

#[tokio::test(start_paused = true)]
async fn new_keys_of_a_full_registry_report_under_the_overflow_breakers_name() {
    let recording = recording();
    let breakers = registry(recording, 1);
    call(&breakers, "a", true).unwrap();
    // a is live, so b gets the shared overflow breaker.
    call(&breakers, "b", false).unwrap();
    assert_eq!(breakers.stats().overflowed, 1);
    assert_eq!(keys(recording), expect(&[("closed", 1.0)]));
    let overflow = [("name", "upstream/overflow"), ("outcome", "failure")];
    assert_eq!(
        recording.counter(names::CIRCUIT_BREAKER_CALLS, &overflow),
        1
    );
    let state = [("name", "upstream/overflow"), ("state", "closed")];
    assert_eq!(recording.gauge(names::CIRCUIT_BREAKER_STATE, &state), 1.0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_registry_takes_its_keys_out_of_the_gauges() {
    let recording = recording();
    let breakers = registry(recording, 100);
    call(&breakers, "a", true).unwrap();
    call(&breakers, "b", true).unwrap();
    call(&breakers, "b", false).unwrap();
    assert_eq!(keys(recording), expect(&[("closed", 1.0), ("open", 1.0)]));
    drop(breakers);
    assert_eq!(keys(recording), expect(&[]));
}

#[tokio::test(start_paused = true)]
async fn per_key_names_name_events_but_every_series_carries_the_registrys_name() {
    let recording = recording();
    let breakers = metrics::with_local_recorder(&recording, || {
        KeyedBreakers::with_names(config(), settings(1_000), |host: &String| {
            format!("upstream/{host}")
        })
    });
    for i in 0..500 {
        let key = format!("host-{i}");
        let permit = breakers.breaker(&key).try_acquire().unwrap();
        permit.failure();
    }
    assert_eq!(
        breakers.get("host-7").unwrap().config().name(),
        "upstream/host-7"
    );
    let series = recording.series();
    let registry = series
        .iter()
        .filter(|s| s.contains("name=upstream,") || s.ends_with("name=upstream}"));
    let overflow = series
        .iter()
        .filter(|s| s.contains("name=upstream/overflow"));
    // As many series as one breaker has, plus its overflow breaker's,
    // whatever the number of keys.
    assert_eq!(
        registry.count() + overflow.count(),
        series.len(),
        "{series:?}"
    );
    assert!(series.len() < 60, "{} series", series.len());
    let labels = [("name", "upstream"), ("outcome", "failure")];
    assert_eq!(
        recording.counter(names::CIRCUIT_BREAKER_CALLS, &labels),
        500
    );
    assert_eq!(keys(recording), expect(&[("closed", 500.0)]));
}

#[test]
fn key_gauges_match_the_keys_held_after_threads_trip_close_evict_and_remove_at_once() {
    let recording = recording();
    let config = Config::builder()
        .name("upstream")
        .sliding_window(SlidingWindow::count(4))
        .minimum_calls(2)
        .wait_in_open(Duration::from_micros(50))
        .half_open_permits(1)
        .build()
        .unwrap();
    // Few slots and an idle time of 1 us, so keys come and go all the
    // time, some with calls in flight.
    let settings = KeyedSettings::builder()
        .max_keys(16)
        .idle_timeout(Duration::from_micros(1))
        .build()
        .unwrap();
    let breakers: KeyedBreakers<u32> =
        metrics::with_local_recorder(&recording, || KeyedBreakers::new(config, settings));
    const THREADS: u32 = 4;
    const CALLS: u32 = 5_000;
    let admitted: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let breakers = breakers.clone();
                s.spawn(move || {
                    let mut admitted = 0;
                    let mut x = t.wrapping_mul(2_654_435_761).wrapping_add(1);
                    for _ in 0..CALLS {
                        // xorshift: which key, which outcome, which control.
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        let key = x % 40;
                        match x % 97 {
                            0 => drop(breakers.remove(&key)),
                            1 => {
                                breakers.evict_idle();
                            }
                            2 => {
                                if let Some(b) = breakers.get(&key) {
                                    b.force_open();
                                }
                            }
                            3 => {
                                if let Some(b) = breakers.get(&key) {
                                    b.reset();
                                }
                            }
                            _ => {
                                if let Ok(permit) = breakers.breaker(&key).try_acquire() {
                                    admitted += 1;
                                    if x % 3 == 0 {
                                        permit.failure();
                                    } else {
                                        permit.success();
                                    }
                                }
                            }
                        }
                    }
                    admitted
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    // Quiet now: each gauge is the number of held keys in its state.
    let mut held: BTreeMap<&'static str, f64> = BTreeMap::new();
    for (_, m) in breakers.metrics() {
        *held.entry(m.state.as_str()).or_default() += 1.0;
    }
    assert_eq!(keys(recording), held);
    // Every admitted call counted once, under the registry or its overflow.
    let outcomes = ["success", "failure", "ignored"];
    let total = |name: &str| -> u64 {
        outcomes
            .iter()
            .map(|o| {
                recording.counter(
                    names::CIRCUIT_BREAKER_CALLS,
                    &[("name", name), ("outcome", o)],
                )
            })
            .sum()
    };
    assert_eq!(total("upstream") + total("upstream/overflow"), admitted);
}

//! Loom models of the shedder's in-flight count.
//!
//! Run with `RUSTFLAGS="--cfg ballast_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p ballast-bulkhead --lib -- loom_models`.

use super::{LoadShedder, Priority, ShedConfig};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

#[test]
fn three_critical_callers_never_exceed_a_limit_of_two() {
    loom::model(|| {
        let s = LoadShedder::new(ShedConfig::builder().max_in_flight(2).build().unwrap());
        let running = Arc::new(AtomicUsize::new(0));
        let call = |s: &LoadShedder, running: &AtomicUsize| {
            if let Ok(place) = s.shared.try_admit(Priority::Critical) {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                assert!(now <= 2, "{now} in flight, limit 2");
                running.fetch_sub(1, Ordering::SeqCst);
                s.shared.release(place);
            }
        };
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (s, running) = (s.clone(), running.clone());
                thread::spawn(move || call(&s, &running))
            })
            .collect();
        call(&s, &running);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.snapshot().in_flight, 0, "every place given back");
    });
}

#[test]
fn a_low_call_never_takes_the_place_kept_for_higher_priorities() {
    loom::model(|| {
        // Limit 2, low may fill 50%: one place.
        let s = LoadShedder::new(
            ShedConfig::builder()
                .max_in_flight(2)
                .threshold(Priority::Low, 50)
                .build()
                .unwrap(),
        );
        let lows: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.shared.try_admit(Priority::Low).is_ok())
            })
            .collect();
        let admitted = lows
            .into_iter()
            .filter_map(|t| t.join().unwrap().then_some(()))
            .count();
        assert_eq!(admitted, 1, "two lows raced for one low place");
        // The second place is still there for a critical call.
        assert!(s.shared.try_admit(Priority::Critical).is_ok());
        assert_eq!(s.snapshot().in_flight, 2);
        assert_eq!(s.snapshot().shed_of(Priority::Low), 1);
    });
}

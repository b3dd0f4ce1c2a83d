//! The four-step trip saga (flight, hotel, payment as the pivot, confirm)
//! over the [`Effects`] table, the scenarios the process tests run, and the
//! checks of a saga's end against what the services applied.

use super::effects::Effects;
use crate::support::{STEPS, Trip, quick_retry};
use ballast_saga::{Definition, OnUnknown, SagaInfo, Status, Step, StepContext, StepError};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the services do, and so how the saga ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scenario {
    /// Every step succeeds.
    Completes,
    /// The pivot (payment) refuses: hotel and flight are compensated.
    Compensates,
    /// As `Compensates`, the hotel's unknown outcome ruled "compensate":
    /// a kill while the hotel's action runs compensates it whether or not
    /// it took effect.
    UnknownCompensates,
}

impl Scenario {
    /// Checks the end status, the state and the effects at the services.
    pub fn check(self, info: &SagaInfo, effects: &[String], at: &str) {
        let state: Trip = serde_json::from_value(info.state.clone()).expect("a trip state");
        match self {
            Scenario::Completes => {
                assert_eq!(info.status, Status::Completed, "{at}");
                assert_eq!(state.done, STEPS, "{at}");
                assert_eq!(effects, ["confirm", "flight", "hotel", "payment"], "{at}");
            }
            Scenario::Compensates => {
                assert_eq!(info.status, Status::Compensated, "{at}");
                assert_eq!(
                    state.done,
                    ["flight", "hotel", "undo hotel", "undo flight"],
                    "{at}"
                );
                assert_eq!(
                    effects,
                    ["flight", "flight/compensate", "hotel", "hotel/compensate"],
                    "{at}"
                );
            }
            Scenario::UnknownCompensates => {
                assert_eq!(info.status, Status::Compensated, "{at}");
                // The hotel ran (and is in the state) or its outcome was
                // unknown; either way it is compensated, then the flight.
                let hotel = effects.iter().any(|e| e == "hotel");
                let want_state: Vec<&str> = if state.done.contains(&"hotel".to_string()) {
                    vec!["flight", "hotel", "undo hotel", "undo flight"]
                } else {
                    vec!["flight", "undo hotel", "undo flight"]
                };
                assert_eq!(state.done, want_state, "{at}");
                let mut want = vec!["flight", "flight/compensate"];
                if hotel {
                    want.push("hotel");
                }
                want.push("hotel/compensate");
                assert_eq!(effects, want, "{at}");
            }
        }
    }
}

/// How long each action waits before it calls its service, drawn per
/// key from `lo..hi` ms (0 for none): keeps sagas in flight.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Delay {
    pub lo: u64,
    pub hi: u64,
}

impl Delay {
    fn of(self, key: &str) -> Duration {
        if self.hi <= self.lo {
            return Duration::from_millis(self.lo);
        }
        // A cheap spread by key (FNV-1a), stable across processes.
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Duration::from_millis(self.lo + h % (self.hi - self.lo))
    }
}

type Call =
    Box<dyn Fn(StepContext<Trip>) -> BoxFuture<'static, Result<Trip, StepError>> + Send + Sync>;

fn call(fx: &Effects, what: String, done: String, refuse: bool, delay: Delay) -> Call {
    let fx = fx.clone();
    Box::new(move |c: StepContext<Trip>| {
        let (fx, what, done) = (fx.clone(), what.clone(), done.clone());
        Box::pin(async move {
            tokio::time::sleep(delay.of(c.idempotency_key())).await;
            if refuse {
                return Err(StepError::compensate(format!("{what} refused")));
            }
            fx.apply(c.idempotency_key(), &c.saga_id().to_string(), &what)
                .await
                .map_err(|e| StepError::transient(format!("{what}: {e}")))?;
            let mut t = c.into_state();
            t.done.push(done);
            Ok(t)
        })
    })
}

/// "trip" version 1 over `fx`: flight and hotel (compensable), payment
/// (the pivot), confirm; the services answer as `scenario` says.
pub fn trip(fx: &Effects, scenario: Scenario, delay: Delay) -> Definition<Trip> {
    let refuse_payment = scenario != Scenario::Completes;
    let hotel_rule = match scenario {
        Scenario::UnknownCompensates => OnUnknown::Compensate,
        _ => OnUnknown::RunAgain,
    };
    let step = |name: &str, refuse: bool| {
        let action = call(fx, name.into(), name.into(), refuse, delay);
        Step::new(name, move |c: StepContext<Trip>| action(c))
            .retry(quick_retry(3))
            .timeout(Duration::from_secs(20))
    };
    let undo = |name: &str| {
        let f = call(
            fx,
            format!("{name}/compensate"),
            format!("undo {name}"),
            false,
            delay,
        );
        move |c: StepContext<Trip>| f(c)
    };
    Definition::builder("trip", 1)
        .step(step("flight", false).compensate(undo("flight")))
        .step(
            step("hotel", false)
                .compensate(undo("hotel"))
                .on_unknown(hotel_rule),
        )
        .step(step("payment", refuse_payment).pivot())
        .step(step("confirm", false))
        .build()
        .expect("a valid definition")
}

//! Each order is a saga: reserve stock (undone by releasing it), charge the
//! payment (the pivot: no way back after it), book shipping. Each step and
//! each compensation sends an event through the outbox, in the transaction
//! that logs its success.

use crate::clients::{Client, Clients, Outcome};
use crate::store::Store;
use ballast::{BoxError, Reason, Rejected};
use ballast_outbox::Message;
use ballast_saga::{Definition, Executor, ExecutorHandle, Step, StepContext, StepError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The saga's name and version.
pub const SAGA: (&str, u32) = ("order", 1);

/// The saga's state: who ordered, and where the order is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Order {
    /// The storefront client who placed it.
    pub client: String,
    pub reserved: bool,
    pub charged: bool,
    pub shipped: bool,
}

/// Calls `op` on `client` with the step's idempotency key and sends
/// `topic` if it was done.
async fn call(
    client: &Client,
    op: &str,
    topic: &str,
    c: &StepContext<Order>,
) -> Result<(), StepError> {
    match client.call(op, Some(c.idempotency_key())).await {
        Outcome::Done => {
            let event = Message::json(
                topic,
                c.saga_id().to_string(),
                &serde_json::json!({ "saga": c.saga_id().to_string(), "op": op }),
            )
            .map_err(StepError::pause)?;
            c.send(event);
            Ok(())
        }
        Outcome::Refused(status) => Err(StepError::compensate(format!(
            "{} refused {op}: {status}",
            client.name
        ))),
        // The request went out and its deadline passed: the dependency may
        // have acted on it. The step's rule decides (run again with the
        // key; compensate, by key, if the saga gives up).
        Outcome::Failed(e) if deadline_passed(&e) => Err(StepError::unknown(e)),
        Outcome::Failed(e) => Err(StepError::transient(e)),
    }
}

fn deadline_passed(e: &BoxError) -> bool {
    Rejected::find(e).is_some_and(|r| r.reason() == Reason::DeadlineExceeded)
}

fn attempts(n: u32, every: Duration) -> ballast_retry::Config {
    ballast_retry::Config::builder()
        .max_attempts(n)
        .backoff(
            ballast_retry::Backoff::constant(every)
                .build()
                .expect("a valid backoff"),
        )
        .no_budget()
        .build()
        .expect("a valid retry config")
}

/// The order saga over `clients`.
pub fn definition(clients: &Clients) -> Definition<Order> {
    let (inv, inv2, pay, ship) = (
        clients.inventory.clone(),
        clients.inventory.clone(),
        clients.payments.clone(),
        clients.shipping.clone(),
    );
    // Each attempt's own timeout is above a call's deadline, so an
    // attempt ends with the call's outcome rather than unknown.
    let timeout = Duration::from_secs(5);
    Definition::builder(SAGA.0, SAGA.1)
        .step(
            Step::new("reserve", move |c: StepContext<Order>| {
                let inv = inv.clone();
                async move {
                    call(&inv, "reserve", "stock.reserved", &c).await?;
                    Ok(Order {
                        reserved: true,
                        ..c.into_state()
                    })
                }
            })
            .retry(attempts(4, Duration::from_millis(200)))
            .timeout(timeout)
            .compensate(move |c: StepContext<Order>| {
                let inv = inv2.clone();
                async move {
                    call(&inv, "release", "stock.released", &c).await?;
                    Ok(Order {
                        reserved: false,
                        ..c.into_state()
                    })
                }
            }),
        )
        .step(
            Step::new("charge", move |c: StepContext<Order>| {
                let pay = pay.clone();
                async move {
                    call(&pay, "charge", "payment.charged", &c).await?;
                    Ok(Order {
                        charged: true,
                        ..c.into_state()
                    })
                }
            })
            // The pivot is tried hard: giving up on a charge whose
            // outcome is not known would release stock of a paid order.
            .retry(attempts(100, Duration::from_millis(200)))
            .timeout(timeout)
            .pivot(),
        )
        .step(
            Step::new("ship", move |c: StepContext<Order>| {
                let ship = ship.clone();
                async move {
                    call(&ship, "ship", "order.shipped", &c).await?;
                    Ok(Order {
                        shipped: true,
                        ..c.into_state()
                    })
                }
            })
            .retry(attempts(10, Duration::from_millis(200)))
            .timeout(timeout),
        )
        .build()
        .expect("a valid order saga")
}

/// Starts an executor named `owner` over the log in `store`, its steps
/// sending through the store's outbox.
pub async fn executor(
    store: &Store,
    clients: &Arc<Clients>,
    owner: &str,
) -> Result<ExecutorHandle, ballast_saga::Error> {
    let mut config = ballast_saga::Config::builder().table("tour");
    if let Some(schema) = store.schema() {
        config = config.schema(schema);
    }
    let config = config
        .owner(owner)
        // Short leases, so a successor takes a crashed executor's sagas
        // over within a second.
        .lease(Duration::from_millis(1000))
        .tick(Duration::from_millis(200))
        // Compensations outlast an outage of a few seconds.
        .compensation_attempts(200)
        .compensation_backoff(ballast_retry::Backoff::constant(Duration::from_millis(100)).build()?)
        .build()?;
    let (database, outbox) = store.saga_database();
    Executor::builder(database)
        .config(config)
        .outbox(outbox)
        .register(definition(clients))
        .start()
        .await
}

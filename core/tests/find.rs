//! `Rejected::find` finds a refusal wherever it sits in the error's chain
//! of sources: behind tower's `Buffer`, which wraps the error of an inner
//! service that fails in `poll_ready` (a `ServiceError` holding it as its
//! source, then `Closed` for later calls), and behind a user's own error
//! type.

use ballast_core::{BoxError, Reason, Rejected};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Service, ServiceExt, buffer::Buffer, service_fn};

/// A service that refuses in `poll_ready`, as a layer that holds its
/// refusal until asked for readiness does.
struct RefusesWhenPolled;

impl Service<u32> for RefusesWhenPolled {
    type Response = u32;
    type Error = BoxError;
    type Future = std::future::Ready<Result<u32, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Err(Box::new(Rejected::retry_after(
            Reason::BulkheadFull,
            Duration::from_millis(20),
        ))))
    }

    fn call(&mut self, req: u32) -> Self::Future {
        std::future::ready(Ok(req))
    }
}

/// A user's own error for a failed call to a dependency, keeping the
/// cause as its source.
#[derive(Debug)]
struct InventoryError(BoxError);

impl std::fmt::Display for InventoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("inventory call failed")
    }
}

impl std::error::Error for InventoryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

/// A call that fails with a refusal: Buffer passes call errors through
/// unchanged, so a plain downcast sees them.
fn refusing() -> impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Send + 'static
{
    service_fn(|_: u32| async {
        Err::<u32, BoxError>(Box::new(Rejected::retry_later(Reason::QueueFull)))
    })
}

#[tokio::test]
async fn finds_a_refusal_that_tower_buffer_passed_through() {
    let err = Buffer::new(refusing(), 4).oneshot(1).await.unwrap_err();
    assert_eq!(
        Rejected::find(&err).map(Rejected::reason),
        Some(Reason::QueueFull)
    );
}

#[tokio::test]
async fn finds_a_refusal_that_tower_buffer_wrapped() {
    let buffered = Buffer::new(RefusesWhenPolled, 4);
    let err = buffered.oneshot(1).await.unwrap_err();
    // Buffer wraps the inner error: a plain downcast no longer sees it.
    assert!(err.downcast_ref::<Rejected>().is_none());
    let rejected = Rejected::find(&err).expect("the bulkhead's refusal behind Buffer");
    assert_eq!(rejected.reason(), Reason::BulkheadFull);
    assert_eq!(rejected.retry_after_hint(), Some(Duration::from_millis(20)));
}

#[tokio::test]
async fn finds_a_refusal_behind_a_users_error_type_behind_buffer() {
    let wrapped = RefusesWhenPolled.map_err(|e| BoxError::from(InventoryError(e)));
    let err = Buffer::new(wrapped, 4).oneshot(1).await.unwrap_err();
    assert!(err.downcast_ref::<InventoryError>().is_none());
    let rejected = Rejected::find(&err).expect("two wrappers deep");
    assert_eq!(rejected.reason(), Reason::BulkheadFull);
}

#[test]
fn finds_a_refusal_behind_a_users_error_type() {
    let err: BoxError = Box::new(InventoryError(Box::new(Rejected::never(
        Reason::RateLimited,
    ))));
    assert_eq!(
        Rejected::find(&err).map(Rejected::reason),
        Some(Reason::RateLimited)
    );
}

#[test]
fn finds_nothing_in_an_error_that_holds_no_refusal() {
    let err: BoxError = Box::new(InventoryError(Box::new(std::io::Error::other("reset"))));
    assert!(Rejected::find(&err).is_none());
    let plain: BoxError = "timeout".into();
    assert!(Rejected::find(&plain).is_none());
}

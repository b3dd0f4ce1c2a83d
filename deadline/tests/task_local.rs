//! The task's current deadline and `within`.

use ballast_deadline::{Deadline, Reason, within};
use std::time::Duration;
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn nested_scope_keeps_the_earlier_enclosing_deadline() {
    let outer = Deadline::after(100 * MS);
    let inner = Deadline::after(500 * MS);
    let seen = outer
        .scope(async move { inner.scope(async { Deadline::current() }).await })
        .await;
    assert_eq!(seen, Some(outer));
}

#[tokio::test(start_paused = true)]
async fn nested_scope_shortens_to_the_earlier_new_deadline() {
    let outer = Deadline::after(500 * MS);
    let inner = Deadline::after(100 * MS);
    let (in_inner, after_inner) = outer
        .scope(async move {
            let seen = inner.scope(async { Deadline::current() }).await;
            (seen, Deadline::current())
        })
        .await;
    assert_eq!(in_inner, Some(inner));
    assert_eq!(after_inner, Some(outer), "the outer scope comes back");
    assert_eq!(Deadline::current(), None);
}

#[tokio::test(start_paused = true)]
async fn a_spawned_task_does_not_inherit_the_scope() {
    let d = Deadline::after(100 * MS);
    let seen = d
        .scope(async { tokio::spawn(async { Deadline::current() }).await.unwrap() })
        .await;
    assert_eq!(seen, None);
}

#[tokio::test(start_paused = true)]
async fn within_returns_the_output_when_the_work_finishes_in_time() {
    let out = within(100 * MS, async {
        tokio::time::sleep(99 * MS).await;
        7
    })
    .await;
    assert_eq!(out, Ok(7));
}

#[tokio::test(start_paused = true)]
async fn within_fails_with_deadline_exceeded_when_time_runs_out() {
    let start = Instant::now();
    let err = within(100 * MS, tokio::time::sleep(1000 * MS))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::DeadlineExceeded);
    assert_eq!(start.elapsed(), 100 * MS);
}

#[tokio::test(start_paused = true)]
async fn within_keeps_the_callers_earlier_deadline() {
    let caller = Deadline::after(50 * MS);
    let start = Instant::now();
    let err = caller
        .scope(within(1000 * MS, async {
            assert_eq!(Deadline::current(), Some(caller));
            tokio::time::sleep(1000 * MS).await;
        }))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::DeadlineExceeded);
    assert_eq!(start.elapsed(), 50 * MS);
}

#[tokio::test(start_paused = true)]
async fn within_an_expired_deadline_never_polls_the_work() {
    let d = Deadline::after(10 * MS);
    tokio::time::advance(10 * MS).await;
    let err = within(d, async { unreachable!("never polled") as () })
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::DeadlineExceeded);
}

#[tokio::test(start_paused = true)]
async fn within_accepts_an_instant() {
    let at = Instant::now() + 20 * MS;
    let err = within(at, tokio::time::sleep(30 * MS)).await.unwrap_err();
    assert_eq!(err.reason(), Reason::DeadlineExceeded);
    assert_eq!(Instant::now(), at);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_scoped_future_is_dropped_inside_its_scope() {
    struct SeeOnDrop(std::sync::Arc<std::sync::Mutex<Option<Option<Deadline>>>>);
    impl Drop for SeeOnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(Deadline::current());
        }
    }
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let guard = SeeOnDrop(seen.clone());
    let d = Deadline::after(100 * MS);
    let fut = d.scope(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    drop(fut);
    assert_eq!(*seen.lock().unwrap(), Some(Some(d)));
    assert_eq!(Deadline::current(), None);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_inner_future_leaves_no_deadline_behind() {
    use futures::FutureExt;
    let d = Deadline::after(100 * MS);
    let caught = std::panic::AssertUnwindSafe(d.scope(async { panic!("boom") }))
        .catch_unwind()
        .await;
    assert!(caught.is_err());
    assert_eq!(Deadline::current(), None);
}

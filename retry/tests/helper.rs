//! The plain async helper.

mod common;

use ballast_retry::{Action, CallError, Policy, RetryErrors, retry};
use common::builder;
use std::io;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn the_helper_retries_until_a_success() {
    let policy = Policy::new(builder().build().unwrap(), RetryErrors);
    let mut n = 0;
    let start = Instant::now();
    let answer = retry(&policy, || {
        n += 1;
        let ok = n == 3;
        async move {
            if ok {
                Ok(n)
            } else {
                Err(io::Error::other("reset"))
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(answer, 3);
    assert_eq!(start.elapsed().as_millis(), 200);
    assert_eq!(policy.metrics().attempts, 3);
}

#[tokio::test(start_paused = true)]
async fn the_helper_returns_what_is_not_transient() {
    let policy = Policy::new(
        builder().build().unwrap(),
        |r: &Result<u32, io::Error>| match r {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Action::Retry,
            _ => Action::Return,
        },
    );
    let mut n = 0;
    let err = retry(&policy, || {
        n += 1;
        async { Err::<u32, _>(io::Error::from(io::ErrorKind::PermissionDenied)) }
    })
    .await
    .unwrap_err();
    assert_eq!(
        err.into_inner().map(|e| e.kind()),
        Some(io::ErrorKind::PermissionDenied)
    );
    assert_eq!(n, 1);
}

#[tokio::test(start_paused = true)]
async fn the_helper_gives_the_last_error_after_its_attempts() {
    let policy = Policy::new(builder().max_attempts(2).build().unwrap(), RetryErrors);
    let mut n = 0u32;
    let err = retry(&policy, || {
        n += 1;
        let n = n;
        async move { Err::<(), _>(io::Error::other(format!("failure {n}"))) }
    })
    .await
    .unwrap_err();
    assert!(matches!(&err, CallError::Inner(e) if e.to_string() == "failure 2"));
    assert_eq!(err.to_string(), "failure 2");
}

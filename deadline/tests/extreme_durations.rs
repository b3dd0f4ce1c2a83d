//! Every duration the deadline crate's builders accept, from one
//! nanosecond to `Duration::MAX` ("forever") and a file's largest number,
//! drives calls without panicking: a deadline past the clock's end lands
//! about 30 years ahead, which is never.

use ballast_deadline::{Config, Deadline, Reason, Rejected, TimeoutLayer, within};
use std::time::Duration;
use tower::{Layer, ServiceExt, service_fn};

fn extremes() -> [Duration; 5] {
    [
        Duration::from_nanos(1),
        Duration::from_millis(1),
        Duration::from_secs(u64::MAX),
        Duration::from_nanos(u64::MAX),
        Duration::MAX,
    ]
}

/// A call that takes 5 ms, through a timeout of `timeout`: it ends in time
/// or with the deadline's refusal, never a panic.
async fn drive(config: Config) {
    let svc = TimeoutLayer::new(config).layer(service_fn(|()| async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok::<_, std::io::Error>(Deadline::current())
    }));
    match svc.clone().oneshot(()).await {
        Ok(seen) => assert!(seen.is_some(), "the call ran in a deadline scope"),
        Err(e) => {
            let r = e.downcast_ref::<Rejected>().expect("a ballast refusal");
            assert_eq!(r.reason(), Reason::DeadlineExceeded);
            assert!(config.timeout().unwrap() < Duration::from_millis(5));
        }
    }
    // Nested under another extreme deadline, and as the plain helper.
    for outer in extremes() {
        let _ = Deadline::after(outer).scope(svc.clone().oneshot(())).await;
        let _ = within(outer, async { svc.clone().oneshot(()).await }).await;
    }
}

#[tokio::test(start_paused = true)]
async fn every_extreme_timeout_drives_calls_without_panicking() {
    for timeout in extremes() {
        let config = Config::builder().timeout(timeout).build().unwrap();
        drive(config).await;
        let d = Deadline::after(timeout);
        assert!(!d.is_expired() || timeout < Duration::from_millis(1));
        assert!(d.remaining() <= timeout);
    }
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn every_extreme_propagation_setting_drives_calls_without_panicking() {
    use ballast_deadline::propagate::{
        ReceiveConfig, ReceiveDeadlineLayer, SendConfig, SendDeadlineLayer,
    };
    use http::{Request, Response};

    let mut built = 0;
    for d in extremes() {
        let send = SendConfig::builder().margin(d).build();
        let receive = ReceiveConfig::builder().max_budget(d).build();
        // A ConfigError naming the setting is an answer too; a panic is not.
        let send = send.unwrap_or_else(|e| {
            assert_eq!(e.field(), "margin", "{e}");
            SendConfig::default()
        });
        let receive = receive.expect("any max_budget is accepted");
        built += 1;
        let server =
            ReceiveDeadlineLayer::new(receive).layer(service_fn(|_: Request<String>| async {
                Ok::<_, std::convert::Infallible>(Response::new(String::new()))
            }));
        let client = SendDeadlineLayer::new(send).layer(service_fn(move |req: Request<String>| {
            let server = server.clone();
            async move { Ok::<_, std::convert::Infallible>(server.oneshot(req).await.unwrap()) }
        }));
        for outer in extremes() {
            let outcome = Deadline::after(outer)
                .scope(client.clone().oneshot(Request::new(String::new())))
                .await;
            if let Err(e) = outcome {
                let r = e.downcast_ref::<Rejected>().expect("a ballast refusal");
                assert_eq!(r.reason(), Reason::DeadlineExceeded);
            }
        }
    }
    assert_eq!(built, extremes().len());
}

#[cfg(feature = "serde")]
#[tokio::test(start_paused = true)]
async fn a_files_largest_timeouts_build_and_drive_calls() {
    for json in [
        r#"{"timeout": 18446744073709551615}"#,
        r#"{"timeout": "18446744073709551615ns"}"#,
        r#"{"timeout": "1ns"}"#,
    ] {
        let config: Config = serde_json::from_str(json).unwrap();
        drive(config).await;
    }
}

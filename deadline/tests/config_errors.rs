//! Config validation (and reading from files with feature `serde`).

use ballast_deadline::Config;
use std::time::Duration;

#[test]
fn a_zero_timeout_is_a_config_error_naming_the_field() {
    let err = Config::builder()
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.component(), "deadline");
    assert_eq!(err.field(), "timeout");
    assert!(err.to_string().contains("must be more than zero"), "{err}");
    assert!(Config::with_timeout(Duration::ZERO).is_err());
}

#[test]
fn the_default_config_has_no_timeout_of_its_own() {
    assert_eq!(Config::default().timeout(), None);
    assert_eq!(Config::builder().build().unwrap(), Config::default());
    let c = Config::builder()
        .timeout(Duration::from_secs(1))
        .timeout_opt(None)
        .build()
        .unwrap();
    assert_eq!(c.timeout(), None);
}

#[cfg(feature = "serde")]
#[test]
fn a_config_reads_from_json_with_human_durations_and_is_validated() {
    let c: Config = serde_json::from_str(r#"{"timeout": "250ms"}"#).unwrap();
    assert_eq!(c.timeout(), Some(Duration::from_millis(250)));
    let c: Config = serde_json::from_str(r#"{"timeout": 2}"#).unwrap();
    assert_eq!(c.timeout(), Some(Duration::from_secs(2)));
    let c: Config = serde_json::from_str("{}").unwrap();
    assert_eq!(c.timeout(), None);

    let err = serde_json::from_str::<Config>(r#"{"timeout": "0s"}"#).unwrap_err();
    assert!(err.to_string().contains("timeout"), "{err}");
    assert!(serde_json::from_str::<Config>(r#"{"timout": "1s"}"#).is_err());
    assert!(serde_json::from_str::<Config>(r#"{"timeout": "soon"}"#).is_err());

    let c = Config::with_timeout(Duration::from_millis(1500)).unwrap();
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(json, r#"{"timeout":"1.5s"}"#);
    assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), c);
    assert_eq!(serde_json::to_string(&Config::default()).unwrap(), "{}");
}

//! An application's config file holding ballast configs, read the way
//! `ballast_core::config_file` tells applications to, so a test checks the
//! key path a mistake names.
//!
//! ```
//! use ballast_test_support::config_path;
//!
//! # #[derive(Debug, serde::Deserialize)] struct Config { #[allow(dead_code)] size: u32 }
//! let file = r#"{ "services": { "inventory": { "bulkhead": { "size": "big" } } } }"#;
//! let err = config_path::read::<Config>(file).unwrap_err();
//! assert_eq!(err.path(), Some("services.inventory.bulkhead.size"));
//! ```

use ballast_core::ConfigError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// A file of the shape `{ "services": { "<service>": { "<key>": config } } }`:
/// configs of type `T` nested two keys deep, as an application holds them.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub struct AppConfig<T> {
    /// Each service's configs by key (`"breaker"`, `"retry"`).
    pub services: HashMap<String, HashMap<String, T>>,
}

/// Reads `file` (JSON) as an [`AppConfig`] of `T`s through
/// `ballast_core::config_file::from_deserializer`.
pub fn read<T: DeserializeOwned>(file: &str) -> Result<AppConfig<T>, ConfigError> {
    ballast_core::config_file::from_deserializer(&mut serde_json::Deserializer::from_str(file))
}

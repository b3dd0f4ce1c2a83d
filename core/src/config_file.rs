//! Reading configs from files so that a mistake names its key path as
//! written in the file (`retry.budget.percent`), not only the builder
//! field (feature `serde`).
//!
//! [`from_deserializer`] reads any ballast config, or any struct of the
//! application's own that holds some, from any serde format, and returns
//! a [`ConfigError`] whose [`path`](ConfigError::path) is the keys from
//! the file's root to the bad value:
//!
//! ```
//! use ballast_core::ConfigError;
//! # use ballast_core::config_file;
//! # use serde::Deserialize;
//! # // A stand-in for a ballast config, validated while it is read.
//! # #[derive(Debug)]
//! # struct Budget;
//! # impl<'de> Deserialize<'de> for Budget {
//! #     fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
//! #         #[derive(Deserialize)]
//! #         struct Raw { percent: f64 }
//! #         let raw = Raw::deserialize(d)?;
//! #         if raw.percent > 1000.0 {
//! #             let err = ConfigError::new("retry budget", "percent", "must be in [0, 1000]");
//! #             return Err(config_file::invalid(err, "percent"));
//! #         }
//! #         Ok(Budget)
//! #     }
//! # }
//! #[derive(Debug, Deserialize)]
//! struct AppConfig {
//!     retry: Retry,
//! }
//! #[derive(Debug, Deserialize)]
//! struct Retry {
//!     budget: Budget,
//! }
//!
//! let file = r#"{ "retry": { "budget": { "percent": 1200 } } }"#;
//! let mut json = serde_json::Deserializer::from_str(file);
//! let err = config_file::from_deserializer::<AppConfig, _>(&mut json).unwrap_err();
//! assert_eq!(err.path(), Some("retry.budget.percent"));
//! assert_eq!(
//!     err.to_string(),
//!     "invalid retry budget config at `retry.budget.percent`: percent must be in [0, 1000]"
//! );
//! ```
//!
//! A config's own `Deserialize` validates while it is read (the builder's
//! checks, run in a `TryFrom` of the file's raw view), so the path to the
//! config is still known; the config reports which of its own keys is to
//! blame with [`invalid`], and [`from_deserializer`] joins the two. A
//! malformed value (a string where a number belongs, an unknown key) is
//! located by serde itself.
//!
//! # Implementation notes
//!
//! A serde error carries only a message, so [`invalid`] also leaves the
//! [`ConfigError`] and its key in a thread-local slot, which
//! [`from_deserializer`] empties before it starts and reads when the
//! reading fails with that error's message. Deserializing is synchronous
//! on one thread, so the slot is never read by another reading.

use crate::ConfigError;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use std::cell::RefCell;

thread_local! {
    /// The last config error [`invalid`] reported on this thread, with the
    /// key within its config that is to blame.
    static BLAMED: RefCell<Option<(ConfigError, String)>> = const { RefCell::new(None) };
}

/// The serde error for `err`, found while deserializing a config, whose
/// bad value is at `key` within that config (`"budget.percent"`, dotted
/// for nested keys; empty for the config as a whole).
///
/// Called by the ballast configs' `Deserialize` impls; an application's
/// own validated types can call it too, so [`from_deserializer`] names
/// their keys the same way.
pub fn invalid<E: de::Error>(err: ConfigError, key: &str) -> E {
    let message = err.to_string();
    BLAMED.with(|b| *b.borrow_mut() = Some((err, key.to_owned())));
    E::custom(message)
}

/// Reads a `T` (a ballast config, or any type holding some) from `d`,
/// and on error names where in the file the mistake is: the keys from the
/// root to the bad value, joined by dots.
///
/// An invalid setting keeps its [`component`](ConfigError::component),
/// [`field`](ConfigError::field) and [`problem`](ConfigError::problem);
/// a malformed file (a wrong type, an unknown key, bad syntax) is a
/// `ConfigError` of component `"file"` with serde's message as the
/// problem.
pub fn from_deserializer<'de, T, D>(d: D) -> Result<T, ConfigError>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    BLAMED.with(|b| b.borrow_mut().take());
    let err = match serde_path_to_error::deserialize(d) {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    let at = err.path().to_string();
    let at = if at == "." { String::new() } else { at };
    let message = err.into_inner().to_string();
    let blamed = BLAMED.with(|b| b.borrow_mut().take());
    Err(match blamed {
        Some((config_error, key)) if message.contains(&config_error.to_string()) => {
            config_error.at_path(join(&at, &key))
        }
        _ if at.is_empty() => ConfigError::new("file", "", message),
        _ => ConfigError::new("file", "", message).at_path(at),
    })
}

/// `outer.inner`, or whichever of the two is not empty.
fn join(outer: &str, inner: &str) -> String {
    match (outer.is_empty(), inner.is_empty()) {
        (true, _) => inner.to_owned(),
        (_, true) => outer.to_owned(),
        _ => format!("{outer}.{inner}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct App {
        #[allow(dead_code)]
        limits: Vec<Limit>,
    }

    #[derive(Debug)]
    struct Limit;

    impl<'de> Deserialize<'de> for Limit {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            #[derive(Deserialize)]
            struct Raw {
                cells: u32,
            }
            if Raw::deserialize(d)?.cells == 0 {
                let err = ConfigError::new("rate limiter", "rate", "must be at least 1 cell");
                return Err(invalid(err, "limit.cells"));
            }
            Ok(Limit)
        }
    }

    fn read(file: &str) -> Result<App, ConfigError> {
        from_deserializer(&mut serde_json::Deserializer::from_str(file))
    }

    #[test]
    fn an_invalid_setting_names_its_key_path_through_lists() {
        let err = read(r#"{ "limits": [ { "cells": 1 }, { "cells": 0 } ] }"#).unwrap_err();
        assert_eq!(err.path(), Some("limits[1].limit.cells"));
        assert_eq!(err.field(), "rate");
        assert_eq!(
            err.to_string(),
            "invalid rate limiter config at `limits[1].limit.cells`: rate must be at least 1 cell"
        );
    }

    #[test]
    fn a_malformed_value_is_located_by_serde() {
        let err = read(r#"{ "limits": [ { "cells": "many" } ] }"#).unwrap_err();
        assert_eq!(err.path(), Some("limits[0].cells"));
        assert_eq!(err.component(), "file");
        assert!(err.problem().contains("invalid type"), "{err}");
    }

    #[test]
    fn an_error_from_an_earlier_reading_is_not_blamed_again() {
        read(r#"{ "limits": [ { "cells": 0 } ] }"#).unwrap_err();
        let err = read(r#"{ "limits": [], "extra": 1 }"#).unwrap_err();
        assert_eq!(err.component(), "file");
        assert_eq!(err.path(), Some("extra"));
    }

    #[test]
    fn a_good_file_reads() {
        assert!(read(r#"{ "limits": [ { "cells": 3 } ] }"#).is_ok());
    }
}

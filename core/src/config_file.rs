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
//! #             return Err(config_file::invalid(&err, "percent"));
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
//! A serde error carries only a message, so [`invalid`] writes the
//! [`ConfigError`] and its key into the message itself: after the
//! sentence a person reads (`invalid circuit breaker config at
//! `minimum_calls`: minimum_calls must be at least 1`) comes a tag
//! `{{ballast-config "<component>" "<field>" "<key>" "<problem>"}}`, each
//! part quoted with `\` and `"` escaped. [`from_deserializer`] looks for
//! the tag anywhere in the message (formats add their own words around
//! it: serde_json a line and column, toml a snippet of the file) and
//! rebuilds the error from it. No state outside the error, so readings on
//! any threads, nested or interleaved, never see each other's errors.

use crate::ConfigError;
use serde::Deserialize;
use serde::de::{self, Deserializer};

/// What opens the tag [`invalid`] writes into a serde message.
const TAG_OPEN: &str = "{{ballast-config ";
/// What closes it.
const TAG_CLOSE: &str = "}}";

/// The serde error for `err`, found while deserializing a config, whose
/// bad value is at `key` within that config (`"budget.percent"`, dotted
/// for nested keys; empty for the config as a whole).
///
/// Called by the ballast configs' `Deserialize` impls; an application's
/// own validated types can call it too, so [`from_deserializer`] names
/// their keys the same way. Read without [`from_deserializer`] (say by
/// `serde_json::from_str`), the error's message opens with the error in
/// words, the key included, and ends with a tag `from_deserializer` reads.
pub fn invalid<E: de::Error>(err: &ConfigError, key: &str) -> E {
    let shown = if key.is_empty() {
        err.to_string()
    } else {
        err.clone().at_path(key).to_string()
    };
    let mut message = format!("{shown} {TAG_OPEN}");
    for (i, part) in [err.component(), err.field(), key, err.problem()]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            message.push(' ');
        }
        quote(part, &mut message);
    }
    message.push_str(TAG_CLOSE);
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
    let err = match serde_path_to_error::deserialize(d) {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    let at = err.path().to_string();
    let at = if at == "." { String::new() } else { at };
    let message = err.into_inner().to_string();
    Err(match read_tag(&message) {
        Some((config_error, key)) => config_error.at_path(join(&at, &key)),
        None if at.is_empty() => ConfigError::new("file", "", message),
        None => ConfigError::new("file", "", message).at_path(at),
    })
}

/// The config error and its key from the tag [`invalid`] wrote into
/// `message`, if there is a whole one.
fn read_tag(message: &str) -> Option<(ConfigError, String)> {
    let mut rest = &message[message.find(TAG_OPEN)? + TAG_OPEN.len()..];
    let mut parts = Vec::with_capacity(4);
    for i in 0..4 {
        if i > 0 {
            rest = rest.strip_prefix(' ')?;
        }
        let (part, after) = unquote(rest)?;
        parts.push(part);
        rest = after;
    }
    rest.strip_prefix(TAG_CLOSE)?;
    let [component, field, key, problem] = <[String; 4]>::try_from(parts).ok()?;
    Some((ConfigError::from_parts(component, field, problem), key))
}

/// Appends `text` to `out` in double quotes, `\\` and `"` escaped.
fn quote(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The text of the quoted part that opens `s` (as [`quote`] writes it),
/// and what follows it.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut text = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((text, &s[1 + i + 1..])),
            '\\' => text.push(chars.next()?.1),
            c => text.push(c),
        }
    }
    None
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
                return Err(invalid(&err, "limit.cells"));
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
    fn a_problem_with_quotes_and_backslashes_reads_back_whole() {
        let problem = r#"must match "a\b" or \"#;
        let err: serde_json::Error = invalid(&ConfigError::new("c", "f", problem), "k.x");
        let (back, key) = read_tag(&err.to_string()).expect("the tag");
        assert_eq!(
            (back.component(), back.field(), back.problem()),
            ("c", "f", problem)
        );
        assert_eq!(key, "k.x");
    }

    #[test]
    fn the_message_read_without_the_reader_says_the_error_in_words_first() {
        let err: serde_json::Error = invalid(
            &ConfigError::new("bulkhead", "max_concurrent_calls", "must be at least 1"),
            "max_concurrent_calls",
        );
        assert!(
            err.to_string().starts_with(
                "invalid bulkhead config at `max_concurrent_calls`: max_concurrent_calls must be at least 1 "
            ),
            "{err}"
        );
    }

    #[test]
    fn a_message_with_a_broken_tag_is_a_file_error() {
        assert!(read_tag("oops {{ballast-config \"c\" \"f\"").is_none());
        assert!(read_tag("no tag at all").is_none());
    }

    #[test]
    fn a_good_file_reads() {
        assert!(read(r#"{ "limits": [ { "cells": 3 } ] }"#).is_ok());
    }
}

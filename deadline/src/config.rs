//! The timeout layer's settings: a builder that validates into a [`Config`].

use ballast_core::ConfigError;
use std::time::Duration;

const COMPONENT: &str = "deadline";

/// Validated settings of a [`TimeoutLayer`](crate::TimeoutLayer).
///
/// The default has no timeout of its own: the layer then enforces only the
/// deadline each request arrives with.
///
/// ```
/// use ballast_deadline::Config;
/// use std::time::Duration;
///
/// let config = Config::builder().timeout(Duration::from_secs(2)).build()?;
/// assert_eq!(config.timeout(), Some(Duration::from_secs(2)));
/// assert!(Config::builder().timeout(Duration::ZERO).build().is_err());
/// # Ok::<(), ballast_deadline::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The longest a call may take, counted from the moment it is made;
    /// `None` leaves only the request's deadline.
    pub(crate) timeout: Option<Duration>,
    /// What the layer is called in its metrics (`"timeout"` unless set).
    pub(crate) name: &'static str,
}

/// The name of a layer not given one.
const DEFAULT_NAME: &str = "timeout";

impl Default for Config {
    /// No timeout of its own, named `"timeout"`.
    fn default() -> Self {
        Self {
            timeout: None,
            name: DEFAULT_NAME,
        }
    }
}

impl Config {
    /// A builder starting from the default (no timeout of its own).
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// A config that gives every call at most `timeout`.
    pub fn with_timeout(timeout: Duration) -> Result<Self, ConfigError> {
        Self::builder().timeout(timeout).build()
    }

    /// The layer's own timeout, if it has one.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// What the layer is called in its metrics (`"timeout"` unless set).
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Builds a [`Config`]; [`build`](Self::build) checks the values.
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    timeout: Option<Duration>,
    name: Option<&'static str>,
}

impl ConfigBuilder {
    /// Gives every call at most `timeout` from the moment it is made (or
    /// less, if the request's deadline is earlier). Must be more than zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// What the layer is called: the `name` label of its metrics (feature
    /// `metrics`); `"timeout"` unless set. A `&'static str`, so the
    /// config stays `Copy`.
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// Sets or clears the timeout (for code that holds an `Option`).
    pub fn timeout_opt(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<Config, ConfigError> {
        if self.timeout == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                COMPONENT,
                "timeout",
                "must be more than zero (leave it unset for no timeout of its own)",
            ));
        }
        Ok(Config {
            timeout: self.timeout,
            name: self.name.unwrap_or(DEFAULT_NAME),
        })
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    //! `{"timeout": "2s"}`; every field optional, unknown fields refused,
    //! values checked by the builder.
    use super::{Config, ConfigBuilder};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::Duration;

    #[derive(Serialize, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(
            with = "ballast_core::duration::option",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        timeout: Option<Duration>,
    }

    impl<'de> Deserialize<'de> for Config {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let file = File::deserialize(d)?;
            ConfigBuilder::default()
                .timeout_opt(file.timeout)
                .build()
                .map_err(|e| {
                    // The builder's field is this config's key.
                    let key = e.field();
                    ballast_core::config_file::invalid(&e, key)
                })
        }
    }

    impl Serialize for Config {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            File {
                timeout: self.timeout,
            }
            .serialize(s)
        }
    }
}

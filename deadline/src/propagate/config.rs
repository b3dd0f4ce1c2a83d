//! Settings of the propagation layers: builders that validate into
//! [`SendConfig`] and [`ReceiveConfig`].

use crate::codec::{DEFAULT_TIMEOUT_MS_HEADER, GRPC_TIMEOUT};
use ballast_core::ConfigError;
use http::HeaderName;
use std::time::Duration;

const SEND: &str = "deadline propagation (send)";
const RECEIVE: &str = "deadline propagation (receive)";

/// The largest network margin accepted: anything longer is a budget, not
/// an allowance for the trip, and most likely a unit mistake.
const MAX_MARGIN: Duration = Duration::from_secs(60);

/// The margin [`SendConfig::default`] keeps for the trip to the callee.
pub const DEFAULT_MARGIN: Duration = Duration::from_millis(5);

/// Validated settings of a [`SendDeadlineLayer`](super::SendDeadlineLayer).
///
/// The default writes both `grpc-timeout` and
/// [`DEFAULT_TIMEOUT_MS_HEADER`], keeping [`DEFAULT_MARGIN`] back for the
/// network.
///
/// ```
/// use ballast_deadline::propagate::SendConfig;
/// use std::time::Duration;
///
/// let config = SendConfig::builder()
///     .margin(Duration::from_millis(20))
///     .grpc_timeout(false)
///     .timeout_header("x-budget-ms")
///     .build()?;
/// assert_eq!(config.margin(), Duration::from_millis(20));
/// assert!(SendConfig::builder().margin(Duration::from_secs(600)).build().is_err());
/// # Ok::<(), ballast_deadline::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendConfig {
    /// Kept back from the budget for the trip to the callee, so the callee
    /// gives up no later than the caller stops waiting.
    pub(crate) margin: Duration,
    /// Whether to write `grpc-timeout`.
    pub(crate) grpc: bool,
    /// The plain-HTTP header of milliseconds, if one is written.
    pub(crate) millis: Option<HeaderName>,
}

impl Default for SendConfig {
    fn default() -> Self {
        SendConfig {
            margin: DEFAULT_MARGIN,
            grpc: true,
            millis: Some(HeaderName::from_static(DEFAULT_TIMEOUT_MS_HEADER)),
        }
    }
}

impl SendConfig {
    /// A builder starting from the default.
    pub fn builder() -> SendConfigBuilder {
        SendConfigBuilder::default()
    }

    /// The margin kept back for the network.
    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// Whether `grpc-timeout` is written.
    pub fn grpc_timeout(&self) -> bool {
        self.grpc
    }

    /// The plain-HTTP header written, if any.
    pub fn timeout_header(&self) -> Option<&HeaderName> {
        self.millis.as_ref()
    }
}

/// Builds a [`SendConfig`]; [`build`](Self::build) checks the values.
#[derive(Debug, Clone)]
pub struct SendConfigBuilder {
    margin: Duration,
    grpc: bool,
    millis: Option<String>,
}

impl Default for SendConfigBuilder {
    fn default() -> Self {
        SendConfigBuilder {
            margin: DEFAULT_MARGIN,
            grpc: true,
            millis: Some(DEFAULT_TIMEOUT_MS_HEADER.to_owned()),
        }
    }
}

impl SendConfigBuilder {
    /// Keeps `margin` back from the budget for the trip (zero is allowed;
    /// at most 60 s).
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Writes `grpc-timeout` (the default) or not.
    pub fn grpc_timeout(mut self, on: bool) -> Self {
        self.grpc = on;
        self
    }

    /// Writes the budget in milliseconds in header `name` (by default
    /// [`DEFAULT_TIMEOUT_MS_HEADER`]).
    pub fn timeout_header(mut self, name: impl Into<String>) -> Self {
        self.millis = Some(name.into());
        self
    }

    /// Writes no plain-HTTP header (only `grpc-timeout`).
    pub fn no_timeout_header(mut self) -> Self {
        self.millis = None;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<SendConfig, ConfigError> {
        if self.margin >= MAX_MARGIN {
            return Err(ConfigError::new(
                SEND,
                "margin",
                format!(
                    "must be under 60s (an allowance for the network), got {}",
                    ballast_core::duration::Human(self.margin)
                ),
            ));
        }
        let millis = header_name(SEND, self.millis)?;
        if !self.grpc && millis.is_none() {
            return Err(ConfigError::new(
                SEND,
                "grpc_timeout",
                "is off and there is no timeout_header: the deadline would not be sent",
            ));
        }
        Ok(SendConfig {
            margin: self.margin,
            grpc: self.grpc,
            millis,
        })
    }
}

/// Validated settings of a [`ReceiveDeadlineLayer`](super::ReceiveDeadlineLayer).
///
/// The default reads `grpc-timeout` and [`DEFAULT_TIMEOUT_MS_HEADER`]
/// (the earlier wins when both are sent) and accepts any budget a caller
/// sends.
///
/// ```
/// use ballast_deadline::propagate::ReceiveConfig;
/// use std::time::Duration;
///
/// // Never give a caller more than 10 s, whatever it asks for.
/// let config = ReceiveConfig::builder().max_budget(Duration::from_secs(10)).build()?;
/// assert_eq!(config.max_budget(), Some(Duration::from_secs(10)));
/// assert!(ReceiveConfig::builder().timeout_header("not a header").build().is_err());
/// # Ok::<(), ballast_deadline::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveConfig {
    /// Whether to read `grpc-timeout`.
    pub(crate) grpc: bool,
    /// The plain-HTTP header of milliseconds read, if any.
    pub(crate) millis: Option<HeaderName>,
    /// The most this server gives a caller: a cap on what callers ask for.
    pub(crate) max_budget: Option<Duration>,
}

impl Default for ReceiveConfig {
    fn default() -> Self {
        ReceiveConfig {
            grpc: true,
            millis: Some(HeaderName::from_static(DEFAULT_TIMEOUT_MS_HEADER)),
            max_budget: None,
        }
    }
}

impl ReceiveConfig {
    /// A builder starting from the default.
    pub fn builder() -> ReceiveConfigBuilder {
        ReceiveConfigBuilder::default()
    }

    /// Whether `grpc-timeout` is read.
    pub fn grpc_timeout(&self) -> bool {
        self.grpc
    }

    /// The plain-HTTP header read, if any.
    pub fn timeout_header(&self) -> Option<&HeaderName> {
        self.millis.as_ref()
    }

    /// The cap on a caller's budget, if any.
    pub fn max_budget(&self) -> Option<Duration> {
        self.max_budget
    }
}

/// Builds a [`ReceiveConfig`]; [`build`](Self::build) checks the values.
#[derive(Debug, Clone)]
pub struct ReceiveConfigBuilder {
    grpc: bool,
    millis: Option<String>,
    max_budget: Option<Duration>,
}

impl Default for ReceiveConfigBuilder {
    fn default() -> Self {
        ReceiveConfigBuilder {
            grpc: true,
            millis: Some(DEFAULT_TIMEOUT_MS_HEADER.to_owned()),
            max_budget: None,
        }
    }
}

impl ReceiveConfigBuilder {
    /// Reads `grpc-timeout` (the default) or not.
    pub fn grpc_timeout(mut self, on: bool) -> Self {
        self.grpc = on;
        self
    }

    /// Reads a budget in milliseconds from header `name` (by default
    /// [`DEFAULT_TIMEOUT_MS_HEADER`]).
    pub fn timeout_header(mut self, name: impl Into<String>) -> Self {
        self.millis = Some(name.into());
        self
    }

    /// Reads no plain-HTTP header.
    pub fn no_timeout_header(mut self) -> Self {
        self.millis = None;
        self
    }

    /// Gives no caller more than `max` (must be more than zero).
    pub fn max_budget(mut self, max: Duration) -> Self {
        self.max_budget = Some(max);
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<ReceiveConfig, ConfigError> {
        if self.max_budget == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                RECEIVE,
                "max_budget",
                "must be more than zero (leave it unset for no cap)",
            ));
        }
        Ok(ReceiveConfig {
            grpc: self.grpc,
            millis: header_name(RECEIVE, self.millis)?,
            max_budget: self.max_budget,
        })
    }
}

/// Checks a plain-HTTP header name: a valid name, and not `grpc-timeout`
/// (whose format differs).
fn header_name(
    component: &'static str,
    name: Option<String>,
) -> Result<Option<HeaderName>, ConfigError> {
    let Some(name) = name else { return Ok(None) };
    let parsed = HeaderName::try_from(name.as_str()).map_err(|_| {
        ConfigError::new(
            component,
            "timeout_header",
            format!("must be a valid HTTP header name, got {name:?}"),
        )
    })?;
    if parsed == GRPC_TIMEOUT {
        return Err(ConfigError::new(
            component,
            "timeout_header",
            "must not be grpc-timeout (turn on grpc_timeout for that format)",
        ));
    }
    Ok(Some(parsed))
}

//! [`HttpConfig`]: which headers the HTTP layer writes, and when.

use crate::quota::COMPONENT;
use ballast_core::ConfigError;
use std::borrow::Cow;

/// Which rate-limit header fields the HTTP layer writes.
///
/// `Retry-After` is written on every 429 whatever the style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HeaderStyle {
    /// `RateLimit-Policy` and `RateLimit` as structured fields, per
    /// draft-ietf-httpapi-ratelimit-headers-10 (the same fields as -08 and
    /// -09): `RateLimit-Policy: "default";q=100;w=60` and `RateLimit:
    /// "default";r=0;t=5`.
    #[default]
    Ietf,
    /// The older separate fields of drafts -03 to -06, which many gateways
    /// and clients still read: `RateLimit-Limit: 100`,
    /// `RateLimit-Remaining: 0`, `RateLimit-Reset: 5`.
    Legacy,
    /// Both of the above.
    Both,
    /// No rate-limit fields: only `Retry-After` on a 429.
    RetryAfterOnly,
}

/// The HTTP layer's settings. Build one with [`HttpConfig::builder`]; the
/// default writes the IETF fields on 429s and on admitted responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub(crate) policy_name: Cow<'static, str>,
    pub(crate) style: HeaderStyle,
    pub(crate) on_admitted: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            policy_name: Cow::Borrowed("default"),
            style: HeaderStyle::Ietf,
            on_admitted: true,
        }
    }
}

impl HttpConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> HttpConfigBuilder {
        HttpConfigBuilder(Self::default())
    }

    /// The policy's name in the IETF fields (`"default"`).
    pub fn policy_name(&self) -> &str {
        &self.policy_name
    }

    /// Which fields are written.
    pub fn style(&self) -> HeaderStyle {
        self.style
    }

    /// Whether admitted responses carry the fields too (with the quota
    /// that remains), not only 429s.
    pub fn on_admitted(&self) -> bool {
        self.on_admitted
    }
}

/// Builds an [`HttpConfig`]; the policy name is checked in
/// [`build`](Self::build).
///
/// ```
/// use ballast_ratelimit::http::{HeaderStyle, HttpConfig};
///
/// let config = HttpConfig::builder()
///     .policy_name("per-client")
///     .style(HeaderStyle::Both)
///     .on_admitted(false)
///     .build()?;
/// assert_eq!(config.policy_name(), "per-client");
/// assert!(HttpConfig::builder().policy_name("say \"hi\"").build().is_err());
/// # Ok::<(), ballast_ratelimit::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpConfigBuilder(HttpConfig);

impl HttpConfigBuilder {
    /// The policy's name in the IETF fields: what clients see to tell
    /// several policies apart. Printable ASCII without `"` or `\`
    /// (written as a structured-field string), not empty.
    pub fn policy_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.0.policy_name = name.into();
        self
    }

    /// Which fields to write (default [`HeaderStyle::Ietf`]).
    pub fn style(mut self, style: HeaderStyle) -> Self {
        self.0.style = style;
        self
    }

    /// Whether admitted responses carry the fields too (default `true`):
    /// well-behaved clients slow down before they are refused.
    pub fn on_admitted(mut self, on: bool) -> Self {
        self.0.on_admitted = on;
        self
    }

    /// Checks the policy name and returns the config.
    pub fn build(self) -> Result<HttpConfig, ConfigError> {
        let name = &self.0.policy_name;
        if name.is_empty() {
            return Err(ConfigError::new(
                COMPONENT,
                "policy_name",
                "must not be empty",
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|&c| !(' '..='~').contains(&c) || c == '"' || c == '\\')
        {
            return Err(ConfigError::new(
                COMPONENT,
                "policy_name",
                format!("must be printable ASCII without '\"' or '\\\\', found {bad:?}"),
            ));
        }
        Ok(self.0)
    }
}

//! The error a builder returns for a setting it cannot accept.

use std::borrow::Cow;
use std::fmt;

/// An invalid configuration value, found when a config is built.
///
/// Every ballast builder validates in `build()` and returns this instead of
/// panicking, so a bad value read from a file becomes an error the
/// application can report at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    component: &'static str,
    field: &'static str,
    problem: Cow<'static, str>,
}

impl ConfigError {
    /// A problem with `field` of `component` (for example
    /// `("circuit breaker", "failure_rate_threshold", "must be in (0, 100], got 120")`).
    pub fn new(
        component: &'static str,
        field: &'static str,
        problem: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            component,
            field,
            problem: problem.into(),
        }
    }

    /// Which policy's config was invalid ("circuit breaker", "bulkhead", ...).
    pub fn component(&self) -> &'static str {
        self.component
    }

    /// The name of the setting that was invalid, as the builder method names it.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with the value.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} config: {} {}",
            self.component, self.field, self.problem
        )
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_component_field_and_problem() {
        let e = ConfigError::new(
            "circuit breaker",
            "failure_rate_threshold",
            "must be in (0, 100], got 120",
        );
        assert_eq!(
            e.to_string(),
            "invalid circuit breaker config: failure_rate_threshold must be in (0, 100], got 120"
        );
        assert_eq!(e.field(), "failure_rate_threshold");
    }
}

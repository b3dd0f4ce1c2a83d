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
    // `Cow`s, so that an error read back from a serde message (see
    // `config_file`) keeps them without a `'static` string to point at.
    component: Cow<'static, str>,
    field: Cow<'static, str>,
    problem: Cow<'static, str>,
    /// Where the value sits in a config file (`retry.budget.percent`),
    /// when it was read from one.
    path: Option<Box<str>>,
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
            component: Cow::Borrowed(component),
            field: Cow::Borrowed(field),
            problem: problem.into(),
            path: None,
        }
    }

    /// The same error, located at `path` in a config file: the keys from
    /// the file's root to the bad value, joined by dots
    /// (`retry.budget.percent`). Set by
    /// [`config_file`](crate::config_file) (feature `serde`).
    pub fn at_path(mut self, path: impl Into<Box<str>>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Where the bad value sits in the config file it was read from, as
    /// the keys from the file's root joined by dots; `None` for a config
    /// built in code.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// Which policy's config was invalid ("circuit breaker", "bulkhead", ...).
    pub fn component(&self) -> &str {
        &self.component
    }

    /// The name of the setting that was invalid, as the builder method names it.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with the value.
    pub fn problem(&self) -> &str {
        &self.problem
    }

    /// The error with owned parts, as [`config_file`](crate::config_file)
    /// reads it back from a serde message.
    #[cfg(feature = "serde")]
    pub(crate) fn from_parts(component: String, field: String, problem: String) -> Self {
        Self {
            component: Cow::Owned(component),
            field: Cow::Owned(field),
            problem: Cow::Owned(problem),
            path: None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} config", self.component)?;
        if let Some(path) = &self.path {
            write!(f, " at `{path}`")?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.problem)
        } else {
            write!(f, ": {} {}", self.field, self.problem)
        }
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

    #[test]
    fn display_names_the_file_path_when_there_is_one() {
        let e = ConfigError::new("retry budget", "percent", "must be in (0, 100], got 120")
            .at_path("retry.budget.percent");
        assert_eq!(
            e.to_string(),
            "invalid retry budget config at `retry.budget.percent`: percent must be in (0, 100], got 120"
        );
        assert_eq!(e.path(), Some("retry.budget.percent"));
    }
}

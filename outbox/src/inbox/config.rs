//! [`InboxConfig`]: where the inbox table lives.

use ballast_core::ConfigError;

/// Where the inbox keeps the ids it has handled: table `ballast_inbox` by
/// default, its migrations recorded in `<table>_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxConfig {
    pub(crate) table: String,
    pub(crate) schema: Option<String>,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            table: "ballast_inbox".into(),
            schema: None,
        }
    }
}

impl InboxConfig {
    /// Starts from the defaults: table `ballast_inbox` in the connection's
    /// default schema.
    pub fn builder() -> InboxConfigBuilder {
        InboxConfigBuilder(InboxConfig::default())
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The PostgreSQL schema, if one was set.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// `schema.table`, or the table alone.
    pub(crate) fn qualified(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.table),
            None => self.table.clone(),
        }
    }
}

/// Builds an [`InboxConfig`].
#[derive(Debug, Clone)]
pub struct InboxConfigBuilder(InboxConfig);

impl InboxConfigBuilder {
    /// The table's name (letters, digits and `_`, starting with a letter or
    /// `_`, at most 40 bytes). One table per consumer group that dedupes on
    /// its own.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.0.table = name.into();
        self
    }

    /// The PostgreSQL schema the table goes in (created if missing). SQLite
    /// refuses a schema.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.0.schema = Some(name.into());
        self
    }

    /// Validates and returns the config.
    pub fn build(self) -> Result<InboxConfig, ConfigError> {
        let c = self.0;
        crate::config::identifier("table", &c.table)?;
        if let Some(schema) = &c.schema {
            crate::config::identifier("schema", schema)?;
        }
        Ok(c)
    }
}

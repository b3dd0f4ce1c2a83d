//! [`KeyedSettings`]: how many keys a keyed registry holds and when it
//! lets one go.

use ballast_core::ConfigError;
use std::time::Duration;

const COMPONENT: &str = "keyed circuit breaker";

/// How many keys a [`KeyedBreakers`](super::KeyedBreakers) holds and when it lets one go.
///
/// Build with [`KeyedSettings::builder`]; the default holds up to 10,000
/// keys and evicts a key unused for 10 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyedSettings {
    max_keys: usize,
    idle_timeout: Duration,
}

impl Default for KeyedSettings {
    fn default() -> Self {
        Self {
            max_keys: 10_000,
            idle_timeout: Duration::from_secs(600),
        }
    }
}

impl KeyedSettings {
    /// A builder starting from the defaults.
    pub fn builder() -> KeyedSettingsBuilder {
        KeyedSettingsBuilder::default()
    }

    /// The most keys (and so breakers) held at once.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// How long a key may go unused before it may be evicted.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
}

/// Builds [`KeyedSettings`]; every setting is checked in [`build`](Self::build).
#[derive(Debug, Clone, Default)]
pub struct KeyedSettingsBuilder {
    settings: KeyedSettings,
}

impl KeyedSettingsBuilder {
    /// Holds at most this many keys, at least 1.
    ///
    /// Only idle keys with calm breakers are evicted, a few for each new
    /// key. When every slot holds a live key (in use within the idle
    /// timeout, or with a tripped breaker), a new key's calls go through the
    /// registry's one shared [`overflow`](super::KeyedBreakers::overflow)
    /// breaker, built from the same config: guarded, not refused, and no
    /// held key's breaker is evicted or reset to make room. Size it above
    /// the keys live within one idle timeout; see
    /// [`KeyedBreakers`](super::KeyedBreakers).
    pub fn max_keys(mut self, max: usize) -> Self {
        self.settings.max_keys = max;
        self
    }

    /// A key unused for this long is idle and may be evicted; greater than
    /// zero. Make it well above the breaker's open wait.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.settings.idle_timeout = idle;
        self
    }

    /// Checks every setting and returns them, or the first invalid one.
    pub fn build(self) -> Result<KeyedSettings, ConfigError> {
        let s = self.settings;
        if s.max_keys == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "max_keys",
                "must be at least 1, got 0",
            ));
        }
        if s.idle_timeout.is_zero() {
            return Err(ConfigError::new(
                COMPONENT,
                "idle_timeout",
                "must be greater than zero",
            ));
        }
        Ok(s)
    }
}

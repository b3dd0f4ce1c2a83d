//! [`TimeoutLayer`]: wraps services in a [`Timeout`].

use crate::config::Config;
use crate::service::Timeout;
use crate::source::TaskLocal;
use tower_layer::Layer;

/// A tower layer that enforces, on every call, the earlier of its own
/// timeout (if configured) and the deadline the request arrived with, read
/// from `Src` (the task's current deadline by default).
///
/// ```
/// use ballast_deadline::{Config, FromRequest, TimeoutLayer};
/// use std::time::Duration;
///
/// // At most 2 s per call, or less if the task's deadline is sooner.
/// let layer = TimeoutLayer::new(Config::with_timeout(Duration::from_secs(2))?);
/// // Only the deadline each request carries (for example an http::Request's).
/// let layer = TimeoutLayer::new(Config::default()).source(FromRequest);
/// # let _ = layer;
/// # Ok::<(), ballast_deadline::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutLayer<Src = TaskLocal> {
    config: Config,
    source: Src,
    /// The series reported through the `metrics` facade, registered when
    /// the layer is built and shared by every service it wraps.
    #[cfg(feature = "metrics")]
    export: std::sync::Arc<crate::export::Export>,
}

impl<Src: Default> Default for TimeoutLayer<Src> {
    /// The default [`Config`] and source.
    fn default() -> Self {
        let config = Config::default();
        Self {
            #[cfg(feature = "metrics")]
            export: crate::export::Export::new(config.name),
            config,
            source: Src::default(),
        }
    }
}

impl TimeoutLayer {
    /// A layer with `config`, reading each request's deadline from the task
    /// ([`TaskLocal`]).
    pub fn new(config: Config) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            export: crate::export::Export::new(config.name),
            config,
            source: TaskLocal,
        }
    }
}

impl<Src> TimeoutLayer<Src> {
    /// Reads each request's deadline from `source` instead (see
    /// [`DeadlineSource`](crate::DeadlineSource)).
    pub fn source<Src2>(self, source: Src2) -> TimeoutLayer<Src2> {
        TimeoutLayer {
            config: self.config,
            source,
            #[cfg(feature = "metrics")]
            export: self.export,
        }
    }

    /// The layer's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl<S, Src: Clone> Layer<S> for TimeoutLayer<Src> {
    type Service = Timeout<S, Src>;

    fn layer(&self, inner: S) -> Self::Service {
        #[cfg(feature = "metrics")]
        return Timeout::with_export(inner, self.config, self.source.clone(), self.export.clone());
        #[cfg(not(feature = "metrics"))]
        Timeout::with_source(inner, self.config, self.source.clone())
    }
}

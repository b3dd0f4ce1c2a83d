//! [`LoadShedLayer`]: the tower layer.

use super::service::LoadShed;
use super::shedder::LoadShedder;
use std::fmt;
use tower_layer::Layer;

/// Puts services behind a [`LoadShedder`], reading each request's
/// priority with `F`; every service it makes shares the shedder.
#[derive(Clone)]
pub struct LoadShedLayer<F> {
    shedder: LoadShedder,
    priority: F,
}

impl<F> LoadShedLayer<F> {
    /// A layer for `shedder`, with `priority` reading each request's
    /// priority.
    pub fn new(shedder: LoadShedder, priority: F) -> Self {
        Self { shedder, priority }
    }
}

impl<S, F: Clone> Layer<S> for LoadShedLayer<F> {
    type Service = LoadShed<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        LoadShed::new(inner, self.shedder.clone(), self.priority.clone())
    }
}

impl<F> fmt::Debug for LoadShedLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedLayer")
            .field("shedder", &self.shedder)
            .finish_non_exhaustive()
    }
}

//! Benchmarks that must measure ballast as a production build runs it.
//!
//! Each crate keeps its benchmarks in its own `benches/`, but those are
//! built with the crate's dev-dependencies, and every crate's tests need
//! tokio's `test-util` feature (the paused clock). With `test-util` on,
//! every `tokio::time::Instant::now()` locks the runtime's clock mutex, so
//! a hot path that reads tokio's clock now and then (the retry budget
//! does, once every 64 calls per thread) pays for a mutex that two
//! workers fight over, which no production build has. A package of its
//! own, with no dev-dependency that turns `test-util` on, builds tokio as
//! an application does when `cargo bench -p ballast-benches` selects only
//! it.
//!
//! - `hot_paths`: every pattern's hot path in both shapes users call it
//!   (one value reused; a clone per call), one and two tasks, beside its
//!   peers; retry's rows are what it costs a call that succeeds at once.
//!
//! There is no library here; this file only documents the package.
#![warn(missing_docs)]

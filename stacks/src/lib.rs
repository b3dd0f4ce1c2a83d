//! Tests of ballast layers stacked as users stack them; the crate itself is
//! empty. The tests live in `tests/`: `stacks.rs` (in-memory services on
//! tokio's paused clock, exact timings) and `http.rs` (hyper over an
//! in-memory pipe on the paused clock, and real loopback HTTP with generous
//! time bounds). The order they recommend, and the orders they warn about,
//! are written down in the workspace README ("Stacking the layers").

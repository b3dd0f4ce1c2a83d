//! Errors: the family's shared [`Rejected`](ballast_core::Rejected) for
//! refusals and [`CallError`] for the plain async helper, both from
//! ballast-core so every ballast crate returns the same types.

pub use ballast_core::CallError;

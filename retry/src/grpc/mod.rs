//! Ready-made classifiers for gRPC, following gRPC's retry design (A6):
//! UNAVAILABLE is retried unless configured otherwise, and the server's
//! `grpc-retry-pushback-ms` is honoured (negative or malformed means do
//! not retry).
//!
//! - [`GrpcCode`]: the 17 status codes.
//! - [`GrpcRules`] / [`Pushback`]: which codes are retried, and how a
//!   pushback reads.
//! - [`GrpcClassifier`]: over any client's error type, with a closure
//!   that reads its code (`|s: &tonic::Status| s.code() as i32`).
//! - [`GrpcHttpClassifier`] (feature `http`): over HTTP responses
//!   carrying `grpc-status`.

mod classifier;
mod code;
#[cfg(feature = "http")]
mod http;
mod rules;

pub use classifier::{GrpcClassifier, NoPushback, PushbackOf};
pub use code::GrpcCode;
#[cfg(feature = "http")]
pub use http::GrpcHttpClassifier;
pub use rules::{DEFAULT_MAX_PUSHBACK, GrpcRules, Pushback};

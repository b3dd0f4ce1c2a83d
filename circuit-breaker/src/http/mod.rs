//! A ready-made classifier for HTTP clients (feature `http`).
//!
//! Without it a breaker counts every `Ok` as a success, and an HTTP client
//! answers a failing dependency's 503 with an `Ok(response)`: the breaker
//! would never trip on a server that is up but failing. [`HttpClassifier`]
//! reads the response's status instead:
//!
//! - a response whose status is in the failure set (every 5xx and 429
//!   Too Many Requests unless set otherwise) is a failure;
//! - every other response is a success (a 404 is the dependency working);
//! - an `Err` (the exchange did not complete: refused, reset, timed out)
//!   is a failure, or, when an [`ErrorFilter`] says it is not the
//!   dependency's fault (a request the client could not even build),
//!   counts as nothing.
//!
//! It classifies `http::Response<B>` (hyper, hyper-util's client, any
//! tower HTTP client) and, with feature `reqwest`, `reqwest::Response`,
//! whatever the error type: no closure over the client's full response
//! type to write.
//!
//! ```
//! use ballast_circuit_breaker::http::HttpClassifier;
//! use ballast_circuit_breaker::{Breaker, Config, SlidingWindow, State};
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), ballast_circuit_breaker::BoxError> {
//! let breaker = Breaker::new(
//!     Config::builder()
//!         .sliding_window(SlidingWindow::count(10))
//!         .minimum_calls(4)
//!         .build()?,
//! );
//! // A dependency that is up, and answers 503 to everything.
//! let failing = service_fn(|_: Request<()>| async {
//!     let r = Response::builder().status(StatusCode::SERVICE_UNAVAILABLE).body(());
//!     Ok::<_, std::io::Error>(r.unwrap())
//! });
//! let client = ServiceBuilder::new()
//!     .layer(breaker.layer().classifier(HttpClassifier::new()))
//!     .service(failing);
//!
//! for _ in 0..4 {
//!     let response = client.clone().oneshot(Request::new(())).await?;
//!     assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE); // passed through
//! }
//! assert_eq!(breaker.state(), State::Open);
//! # Ok(()) }
//! ```

mod classifier;
mod errors;
#[cfg(feature = "reqwest")]
mod reqwest_response;
mod status_set;

pub use classifier::HttpClassifier;
pub use errors::{AllErrors, ErrorFilter};
#[cfg(feature = "reqwest")]
pub use reqwest_response::TransportErrors;

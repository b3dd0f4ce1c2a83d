//! Ready-made retry rules for HTTP clients (feature `http`).
//!
//! - [`HttpClassifier`]: retries 429, 502, 503 and 504 (configurable),
//!   honours `Retry-After` in seconds and as an HTTP-date (all three forms
//!   of RFC 9110) up to a maximum, and retries the errors a
//!   [`TransientError`](crate::TransientError) filter picks (none unless
//!   asked: [`ConnectionErrors`](crate::ConnectionErrors) suits hyper and
//!   reqwest).
//! - [`IdempotentRequests`]: the request cloner that lets only idempotent
//!   methods be retried (and requests with an [`IDEMPOTENCY_KEY`], and
//!   gRPC calls), and allows more on request. The layers' default cloner
//!   keeps the same rule, so a `POST` is never sent twice unless asked.
//! - With feature `reqwest`: the classifier reads `reqwest::Response`
//!   too; `ReqwestErrors` retries reqwest's connect errors and timeouts;
//!   the default cloner and [`IdempotentRequests`] copy a
//!   `reqwest::Request` with `try_clone` under the same rule (a request
//!   whose body is a stream cannot be copied, so it is sent once and its
//!   first outcome returned); `AnyReqwestRequests` copies any method.
//! - [`parse_retry_after`] / [`parse_http_date`]: the parsers, for
//!   classifiers of one's own; [`WallClock`]: the date they count from.
//!
//! ```
//! use ballast_retry::http::HttpClassifier;
//! use ballast_retry::{Config, ConnectionErrors, Policy};
//! use http::{Request, Response, StatusCode};
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), ballast_retry::BoxError> {
//! let policy = Policy::new(
//!     Config::default(),
//!     HttpClassifier::new().retry_errors_if(ConnectionErrors),
//! );
//! let mut client = ServiceBuilder::new()
//!     // The default cloner sends a request again only if that is safe:
//!     // the same rule as `.idempotent_http()`.
//!     .layer(policy.layer())
//!     .service(service_fn(|_: Request<String>| async {
//!         let r = Response::builder().status(StatusCode::SERVICE_UNAVAILABLE).body(String::new());
//!         Ok::<_, std::io::Error>(r.unwrap())
//!     }));
//!
//! // A POST is not retried: its 503 comes back after one attempt.
//! let post = Request::post("/orders").body("{}".to_string())?;
//! let response = client.ready().await?.call(post).await?;
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(policy.metrics().attempts, 1);
//!
//! // A GET is: 3 attempts, then the last 503 comes back.
//! let get = Request::get("/orders").body(String::new())?;
//! let response = client.ready().await?.call(get).await?;
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(policy.metrics().attempts, 4);
//!
//! // A POST with an idempotency key is: the server acts once per key.
//! let keyed = Request::post("/orders")
//!     .header("idempotency-key", "order-7")
//!     .body("{}".to_string())?;
//! client.ready().await?.call(keyed).await?;
//! assert_eq!(policy.metrics().attempts, 7);
//!
//! // To retry every POST (a server that deduplicates them), opt in:
//! // `policy.layer().clone_requests_with(IdempotentRequests::new().allow(Method::POST))`.
//! # Ok(()) }
//! ```

mod classifier;
mod clock;
mod date;
mod requests;
#[cfg(feature = "reqwest")]
mod reqwest_client;
mod status_set;

pub use classifier::{DEFAULT_MAX_RETRY_AFTER, DEFAULT_STATUSES, HttpClassifier};
pub use clock::{SystemClock, WallClock};
pub use date::{parse_http_date, parse_retry_after};
pub use requests::{IDEMPOTENCY_KEY, IdempotentRequests};
#[cfg(feature = "reqwest")]
pub use reqwest_client::{AnyReqwestRequests, ReqwestErrors};

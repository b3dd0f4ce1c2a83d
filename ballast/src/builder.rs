//! [`ServiceBuilderExt`]: every ballast layer as a method of tower's
//! `ServiceBuilder`, named one way for the whole family.

use tower::ServiceBuilder;
use tower::layer::util::Stack;

#[cfg(feature = "bulkhead")]
use ballast_bulkhead::{
    Bulkhead, BulkheadLayer,
    adaptive::{AdaptiveLayer, AdaptiveLimiter},
    partitioned::{PartitionId, PartitionedBulkhead, PartitionedLayer},
    shed::{LoadShedLayer, LoadShedder, Priority},
};
#[cfg(all(feature = "circuit-breaker", feature = "http"))]
use ballast_circuit_breaker::http::HttpClassifier;
#[cfg(feature = "circuit-breaker")]
use ballast_circuit_breaker::{
    Breaker, CircuitBreakerLayer,
    keyed::{KeyedBreakers, KeyedCircuitBreakerLayer},
};
#[cfg(all(feature = "deadline", feature = "http"))]
use ballast_deadline::propagate::{ReceiveConfig, SendConfig};
#[cfg(all(feature = "deadline", feature = "http"))]
use ballast_deadline::{ClientDeadlineLayer, ReceiveDeadlineLayer, SendDeadlineLayer};
#[cfg(feature = "deadline")]
use ballast_deadline::{Config as DeadlineConfig, TimeoutLayer};
#[cfg(feature = "redis")]
use ballast_ratelimit::redis::{RedisRateLimitLayer, RedisRateLimiter};
#[cfg(feature = "ratelimit")]
use ballast_ratelimit::{KeyedBy, KeyedRateLimiter, RateLimitLayer, RateLimiter};
#[cfg(feature = "retry")]
use ballast_retry::{AsRetryLayer, HedgeLayer, HedgePolicy};

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds every ballast layer to tower's `ServiceBuilder`.
///
/// Every method is `with_` and the ballast value it takes:
/// `.with_circuit_breaker(&breaker)`, `.with_bulkhead(&bulkhead)`,
/// `.with_rate_limiter(&limiter)`, `.with_retry_policy(&policy)`,
/// `.with_deadline(config)`. One prefix for the family, so a method never
/// shadows, nor is shadowed by, tower's own inherent methods (`retry`,
/// `timeout`, `rate_limit`, `concurrency_limit`, `load_shed`: an inherent
/// method always wins over a trait's) or tower-http's `ServiceBuilderExt`
/// (whose methods none start with `with_`). The [`prelude`](crate::prelude)
/// imports this trait as `_`, so a glob import of the prelude next to
/// `tower_http::ServiceBuilderExt` clashes on no name either.
///
/// Each method takes the policy by reference and layers a handle to it:
/// every service built shares the one breaker, limit or budget, and its
/// metrics. It is the same as `.layer(x.layer())`, which a user of a single
/// ballast crate writes without this trait.
///
/// ```
/// use ballast::prelude::*;
/// use ballast::{bulkhead, circuit_breaker, deadline, ratelimit, retry};
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let breaker = Breaker::new(circuit_breaker::Config::builder().name("stock").build()?);
/// let permits = Bulkhead::new(bulkhead::Config::builder().max_concurrent_calls(8).build()?);
/// let limiter = RateLimiter::new(
///     ratelimit::Config::builder().rate(100, Duration::from_secs(1)).build()?,
/// );
/// let policy = retry::Policy::new(retry::Config::default(), retry::RetryErrors);
/// let client = ServiceBuilder::new()
///     .with_deadline(deadline::Config::with_timeout(Duration::from_secs(2))?)
///     .with_retry_policy(&policy)
///     .with_circuit_breaker(&breaker)
///     .with_rate_limiter(&limiter)
///     .with_bulkhead(&permits)
///     .service(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n + 1) }));
/// assert_eq!(client.oneshot(41).await?, 42);
/// assert_eq!(breaker.metrics().calls, 1);
/// # Ok(()) }
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Puts the services built next behind `breaker`: refused at once while
    /// its circuit is open.
    #[cfg(feature = "circuit-breaker")]
    fn with_circuit_breaker(
        self,
        breaker: &Breaker,
    ) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>>;

    /// Puts the HTTP client built next behind `breaker`, counting what an
    /// HTTP client answers the way a dependency's health reads: a 5xx or
    /// 429 response, or an exchange that did not complete, is a failure;
    /// any other response (a 404 too) a success. Without it an `Ok` is a
    /// success, so a dependency answering 503 to everything never trips
    /// the breaker.
    ///
    /// For `http::Response`s (hyper, any tower HTTP client) and, with
    /// feature `reqwest`, `reqwest::Response`s. Other failure statuses or
    /// an error filter: `.layer(breaker.layer().classifier(HttpClassifier::new()..))`
    /// with [`HttpClassifier`]'s settings.
    ///
    /// ```
    /// use ballast::circuit_breaker::{self, SlidingWindow, State};
    /// use ballast::prelude::*;
    /// use http::{Request, Response, StatusCode};
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), BoxError> {
    /// let breaker = Breaker::new(
    ///     circuit_breaker::Config::builder()
    ///         .name("stock")
    ///         .sliding_window(SlidingWindow::count(10))
    ///         .minimum_calls(4)
    ///         .build()?,
    /// );
    /// // A dependency that is up, and answers 503 to everything.
    /// let failing = service_fn(|_: Request<()>| async {
    ///     let answer = Response::builder().status(StatusCode::SERVICE_UNAVAILABLE).body(());
    ///     Ok::<_, std::io::Error>(answer.expect("a valid response"))
    /// });
    /// let client = ServiceBuilder::new()
    ///     .with_http_circuit_breaker(&breaker)
    ///     .service(failing);
    ///
    /// for _ in 0..4 {
    ///     let response = client.clone().oneshot(Request::new(())).await?;
    ///     assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE); // passed through
    /// }
    /// assert_eq!(breaker.state(), State::Open);
    /// # Ok(()) }
    /// ```
    ///
    /// [`HttpClassifier`]: ballast_circuit_breaker::http::HttpClassifier
    #[cfg(all(feature = "circuit-breaker", feature = "http"))]
    fn with_http_circuit_breaker(
        self,
        breaker: &Breaker,
    ) -> ServiceBuilder<Stack<CircuitBreakerLayer<HttpClassifier>, L>>;

    /// Puts each request behind the breaker of the key `key` picks from it
    /// (host, endpoint, tenant), one breaker per key.
    #[cfg(feature = "circuit-breaker")]
    fn with_keyed_circuit_breaker<K, F>(
        self,
        breakers: &KeyedBreakers<K>,
        key: F,
    ) -> ServiceBuilder<Stack<KeyedCircuitBreakerLayer<K, F>, L>>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static;

    /// Caps the calls in flight of the services built next at the fixed
    /// `bulkhead`'s limit.
    #[cfg(feature = "bulkhead")]
    fn with_bulkhead(self, bulkhead: &Bulkhead) -> ServiceBuilder<Stack<BulkheadLayer, L>>;

    /// Caps the calls in flight per partition of `bulkhead`, with `key`
    /// picking each request's partition (tenant, class of work).
    #[cfg(feature = "bulkhead")]
    fn with_partitioned_bulkhead<F, Req>(
        self,
        bulkhead: &PartitionedBulkhead,
        key: F,
    ) -> ServiceBuilder<Stack<PartitionedLayer<F>, L>>
    where
        F: Fn(&Req) -> PartitionId + Clone;

    /// Caps the calls in flight at the limit `limiter` finds the dependency
    /// can take (Vegas, Gradient2, AIMD or your own algorithm).
    #[cfg(feature = "bulkhead")]
    fn with_adaptive_limiter(
        self,
        limiter: &AdaptiveLimiter,
    ) -> ServiceBuilder<Stack<AdaptiveLayer, L>>;

    /// Sheds the calls of the services built next under `shedder`, lowest
    /// [`Priority`] first, reading each request's priority with `priority`.
    #[cfg(feature = "bulkhead")]
    fn with_load_shedder<F, Req>(
        self,
        shedder: &LoadShedder,
        priority: F,
    ) -> ServiceBuilder<Stack<LoadShedLayer<F>, L>>
    where
        F: Fn(&Req) -> Priority + Clone;

    /// Puts the services built next behind the rate limit of `limiter`.
    #[cfg(feature = "ratelimit")]
    fn with_rate_limiter(self, limiter: &RateLimiter) -> ServiceBuilder<Stack<RateLimitLayer, L>>;

    /// Puts the services built next behind `limiter`, one limit per key
    /// that `key` picks from each request (client, user, API key).
    #[cfg(feature = "ratelimit")]
    fn with_keyed_rate_limiter<K, F>(
        self,
        limiter: &KeyedRateLimiter<K>,
        key: F,
    ) -> ServiceBuilder<Stack<RateLimitLayer<KeyedBy<K, F>>, L>>;

    /// Puts the services built next behind the limit `limiter` shares with
    /// every instance through Redis, one limit per key `key` picks.
    #[cfg(feature = "redis")]
    fn with_redis_rate_limiter<F>(
        self,
        limiter: &RedisRateLimiter,
        key: F,
    ) -> ServiceBuilder<Stack<RedisRateLimitLayer<F>, L>>;

    /// Retries the calls of the services built next under `policy`, a
    /// `Policy`, drawing on its budget. For a request
    /// cloner or a deadline source of one's own, use
    /// `.layer(policy.layer().clone_requests_with(..))`.
    #[cfg(feature = "retry")]
    fn with_retry_policy<P: AsRetryLayer>(self, policy: &P) -> ServiceBuilder<Stack<P::Layer, L>>;

    /// Hedges the calls of the services built next under `policy`: a
    /// second attempt when the first is slow, under its own budget.
    #[cfg(feature = "retry")]
    fn with_hedge_policy(self, policy: &HedgePolicy) -> ServiceBuilder<Stack<HedgeLayer, L>>;

    /// Bounds each call of the services built next by `config`'s timeout or
    /// the caller's deadline, whichever is earlier, and sets that deadline
    /// for every layer below.
    #[cfg(feature = "deadline")]
    fn with_deadline(self, config: DeadlineConfig) -> ServiceBuilder<Stack<TimeoutLayer, L>>;

    /// Writes the call's remaining deadline into each outgoing
    /// `http::Request` (client side), as `config` says.
    #[cfg(all(feature = "deadline", feature = "http"))]
    fn with_sent_deadline(self, config: SendConfig) -> ServiceBuilder<Stack<SendDeadlineLayer, L>>;

    /// Reads the caller's deadline from each incoming `http::Request`
    /// (server side), refuses expired requests and cancels the handler at
    /// the deadline, as `config` says.
    #[cfg(all(feature = "deadline", feature = "http"))]
    fn with_received_deadline(
        self,
        config: ReceiveConfig,
    ) -> ServiceBuilder<Stack<ReceiveDeadlineLayer, L>>;

    /// The client side of a deadline in one layer: bounds each call by
    /// `config`'s timeout or the caller's deadline, whichever is earlier,
    /// sends what is left to the callee in the request's headers (as
    /// [`with_sent_deadline`](Self::with_sent_deadline) with the default
    /// `SendConfig`) and stops waiting when it passes (as
    /// [`with_deadline`](Self::with_deadline)). For `http::Request`s and,
    /// with feature `reqwest`, `reqwest::Request`s. Other send settings:
    /// `.layer(ClientDeadlineLayer::new(config).send_config(send))`.
    #[cfg(all(feature = "deadline", feature = "http"))]
    fn with_client_deadline(
        self,
        config: DeadlineConfig,
    ) -> ServiceBuilder<Stack<ClientDeadlineLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    #[cfg(feature = "circuit-breaker")]
    fn with_circuit_breaker(
        self,
        breaker: &Breaker,
    ) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>> {
        self.layer(breaker.layer())
    }

    #[cfg(all(feature = "circuit-breaker", feature = "http"))]
    fn with_http_circuit_breaker(
        self,
        breaker: &Breaker,
    ) -> ServiceBuilder<Stack<CircuitBreakerLayer<HttpClassifier>, L>> {
        self.layer(breaker.layer().classifier(HttpClassifier::new()))
    }

    #[cfg(feature = "circuit-breaker")]
    fn with_keyed_circuit_breaker<K, F>(
        self,
        breakers: &KeyedBreakers<K>,
        key: F,
    ) -> ServiceBuilder<Stack<KeyedCircuitBreakerLayer<K, F>, L>>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    {
        self.layer(breakers.layer(key))
    }

    #[cfg(feature = "bulkhead")]
    fn with_bulkhead(self, bulkhead: &Bulkhead) -> ServiceBuilder<Stack<BulkheadLayer, L>> {
        self.layer(bulkhead.layer())
    }

    #[cfg(feature = "bulkhead")]
    fn with_partitioned_bulkhead<F, Req>(
        self,
        bulkhead: &PartitionedBulkhead,
        key: F,
    ) -> ServiceBuilder<Stack<PartitionedLayer<F>, L>>
    where
        F: Fn(&Req) -> PartitionId + Clone,
    {
        self.layer(bulkhead.layer(key))
    }

    #[cfg(feature = "bulkhead")]
    fn with_adaptive_limiter(
        self,
        limiter: &AdaptiveLimiter,
    ) -> ServiceBuilder<Stack<AdaptiveLayer, L>> {
        self.layer(limiter.layer())
    }

    #[cfg(feature = "bulkhead")]
    fn with_load_shedder<F, Req>(
        self,
        shedder: &LoadShedder,
        priority: F,
    ) -> ServiceBuilder<Stack<LoadShedLayer<F>, L>>
    where
        F: Fn(&Req) -> Priority + Clone,
    {
        self.layer(shedder.layer(priority))
    }

    #[cfg(feature = "ratelimit")]
    fn with_rate_limiter(self, limiter: &RateLimiter) -> ServiceBuilder<Stack<RateLimitLayer, L>> {
        self.layer(limiter.layer())
    }

    #[cfg(feature = "ratelimit")]
    fn with_keyed_rate_limiter<K, F>(
        self,
        limiter: &KeyedRateLimiter<K>,
        key: F,
    ) -> ServiceBuilder<Stack<RateLimitLayer<KeyedBy<K, F>>, L>> {
        self.layer(RateLimitLayer::keyed(limiter.clone(), key))
    }

    #[cfg(feature = "redis")]
    fn with_redis_rate_limiter<F>(
        self,
        limiter: &RedisRateLimiter,
        key: F,
    ) -> ServiceBuilder<Stack<RedisRateLimitLayer<F>, L>> {
        self.layer(limiter.layer(key))
    }

    #[cfg(feature = "retry")]
    fn with_retry_policy<P: AsRetryLayer>(self, policy: &P) -> ServiceBuilder<Stack<P::Layer, L>> {
        self.layer(policy.retry_layer())
    }

    #[cfg(feature = "retry")]
    fn with_hedge_policy(self, policy: &HedgePolicy) -> ServiceBuilder<Stack<HedgeLayer, L>> {
        self.layer(policy.layer())
    }

    #[cfg(feature = "deadline")]
    fn with_deadline(self, config: DeadlineConfig) -> ServiceBuilder<Stack<TimeoutLayer, L>> {
        self.layer(TimeoutLayer::new(config))
    }

    #[cfg(all(feature = "deadline", feature = "http"))]
    fn with_sent_deadline(self, config: SendConfig) -> ServiceBuilder<Stack<SendDeadlineLayer, L>> {
        self.layer(SendDeadlineLayer::new(config))
    }

    #[cfg(all(feature = "deadline", feature = "http"))]
    fn with_received_deadline(
        self,
        config: ReceiveConfig,
    ) -> ServiceBuilder<Stack<ReceiveDeadlineLayer, L>> {
        self.layer(ReceiveDeadlineLayer::new(config))
    }

    #[cfg(all(feature = "deadline", feature = "http"))]
    fn with_client_deadline(
        self,
        config: DeadlineConfig,
    ) -> ServiceBuilder<Stack<ClientDeadlineLayer, L>> {
        self.layer(ClientDeadlineLayer::new(config))
    }
}

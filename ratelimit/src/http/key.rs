//! Key functions for a keyed HTTP limit: a client id from a header, or a
//! value (a peer IP) from a request extension. Any `Fn(&Request<B>) -> K`
//! works as well; these are the common ones.

use http::Request;
use http::header::{HeaderName, HeaderValue};

/// Keys each request by the value of header `name` (a client id, an API
/// key). Requests without the header share one limit (the key `None`);
/// write your own key function to treat them otherwise.
///
/// ```
/// use ballast_ratelimit::http::key;
/// use http::Request;
///
/// let by_client = key::header(http::HeaderName::from_static("x-client-id"));
/// let req = Request::builder().header("x-client-id", "alice").body(()).unwrap();
/// assert_eq!(by_client(&req).unwrap(), "alice");
/// assert_eq!(by_client(&Request::new(())), None);
/// ```
pub fn header<B>(name: HeaderName) -> impl Fn(&Request<B>) -> Option<HeaderValue> + Clone {
    move |req| req.headers().get(&name).cloned()
}

/// Keys each request by `f` applied to its extension of type `T`: the
/// peer's IP from axum's `ConnectInfo<SocketAddr>` (inserted by
/// `into_make_service_with_connect_info`), a tenant a previous layer
/// resolved. Requests without the extension share one limit (`None`).
///
/// ```
/// use ballast_ratelimit::http::key;
/// use http::Request;
/// use std::net::{IpAddr, SocketAddr};
///
/// let by_ip = key::extension(|peer: &SocketAddr| peer.ip());
/// let mut req = Request::new(());
/// req.extensions_mut().insert(SocketAddr::from(([10, 0, 0, 7], 4242)));
/// assert_eq!(by_ip(&req), Some(IpAddr::from([10, 0, 0, 7])));
/// ```
pub fn extension<B, T, K>(f: fn(&T) -> K) -> impl Fn(&Request<B>) -> Option<K> + Clone
where
    T: Clone + Send + Sync + 'static,
{
    move |req| req.extensions().get::<T>().map(f)
}

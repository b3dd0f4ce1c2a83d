//! Helpers for the tests against a real Redis: finding it (or skipping),
//! keys no other run shares, and a loopback proxy that can "stop Redis"
//! for one limiter without touching the server others use.
//!
//! Include with `#[macro_use] #[path = "common/redis.rs"] mod support;`.
#![allow(dead_code)]

use ballast_ratelimit::redis::{RedisConfigBuilder, RedisRateLimiter};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The Redis URL from `BALLAST_REDIS_URL`, or `None` (the test skips,
/// saying why). Panics instead when `BALLAST_REQUIRE_SERVICES=1`: in CI a
/// missing Redis is a failure, not a skip.
pub fn redis_url(test: &str) -> Option<String> {
    ballast_test_support::service("BALLAST_REDIS_URL", test)
}

/// Binds `$url` to the Redis URL or returns from the test, skipping.
macro_rules! redis_or_skip {
    ($test:expr) => {
        match support::redis_url($test) {
            Some(url) => url,
            None => return,
        }
    };
}

/// A key prefix that no other test, run or process shares.
pub fn unique_prefix(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("ballast-test:{test}:{}:{nanos}:{n}:", std::process::id())
}

/// A limiter on its own connection to `url`.
pub fn limiter(url: &str, config: RedisConfigBuilder) -> RedisRateLimiter {
    RedisRateLimiter::connect(url, config.build().unwrap()).unwrap()
}

/// A plain connection for looking at Redis directly.
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Redis's clock (`TIME`), in microseconds since the Unix epoch.
pub async fn redis_time(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let (s, us): (u64, u64) = redis::cmd("TIME").query_async(conn).await.unwrap();
    s * 1_000_000 + us
}

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Pass bytes both ways.
    Forward,
    /// Close every connection and every new one at once: Redis is down.
    Cut,
    /// Accept and keep connections but pass no bytes: Redis hangs.
    Stall,
}

/// A loopback TCP proxy in front of Redis, in this test's runtime.
pub struct Proxy {
    addr: SocketAddr,
    url: String,
    mode: watch::Sender<Mode>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// A proxy to the Redis at `url`, forwarding.
    pub async fn start(url: &str) -> Proxy {
        let (upstream, proxied_url) = split_url(url);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = proxied_url(addr);
        let (mode, _) = watch::channel(Mode::Forward);
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let mode = mode.clone();
            let conns = conns.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if *mode.borrow() == Mode::Cut {
                        drop(client); // refused: closed at once
                        continue;
                    }
                    let task = tokio::spawn(relay(client, upstream.clone(), mode.subscribe()));
                    conns.lock().unwrap().push(task);
                }
            })
        };
        Proxy {
            addr,
            url,
            mode,
            conns,
            accept,
        }
    }

    /// The URL limiters connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// "Stops Redis": closes every connection through the proxy and
    /// refuses new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort(); // drops both sockets
        }
    }

    /// "Redis hangs": connections stay open (new ones are accepted) but no
    /// byte passes until [`restore`](Self::restore).
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stall);
    }

    /// Redis is back: forwards again (stalled bytes flow on).
    pub fn restore(&self) {
        self.mode.send_replace(Mode::Forward);
    }

    /// The proxy's own address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// The upstream `host:port` of a `redis://` URL, and a function giving the
/// same URL pointed at another address.
fn split_url(url: &str) -> (String, impl Fn(SocketAddr) -> String) {
    let rest = url.strip_prefix("redis://").expect("a redis:// URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h.to_owned()),
        None => (String::new(), authority.to_owned()),
    };
    let hostport = if hostport.contains(':') {
        hostport
    } else {
        format!("{hostport}:6379")
    };
    let path = path.to_owned();
    (hostport, move |addr| {
        format!("redis://{userinfo}{addr}/{path}")
    })
}

/// Relays one client connection to Redis while the mode allows.
async fn relay(client: TcpStream, upstream: String, mode: watch::Receiver<Mode>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pump(cr, sw, mode.clone());
    let down = pump(sr, cw, mode);
    // Either side closing ends both.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        loop {
            let now = *mode.borrow_and_update();
            match now {
                Mode::Forward => break,
                Mode::Cut => return,
                Mode::Stall => {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Waits (polling every 20 ms, real time) until `cond` holds, for at most
/// `within`; says whether it did.
pub async fn eventually(within: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! Connection limits: caps on concurrent connections (overall and per client address), a
//! watchdog that closes connections idle too long (before their first request or between
//! requests), timeouts on each request and on pauses in its body, and back-off when `accept`
//! fails because the process ran out of file descriptors or memory.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, Version, header};
use casebook_core::sync::wire::ErrorBody;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// The `error` code of a request that took too long (HTTP 408).
pub const ERROR_REQUEST_TIMEOUT: &str = "request_timeout";

/// The key connections are counted under: the IPv4 address, or the /64 prefix of an IPv6
/// address (one subscriber usually holds a whole /64).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why a connection was refused before its TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server holds its maximum number of connections.
    Overall,
    /// This client address (or IPv6 /64) holds its maximum.
    PerAddress,
}

/// Counts open connections overall and per client address.
#[derive(Debug)]
pub struct ConnLimits {
    max_overall: usize,
    max_per_address: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

impl ConnLimits {
    /// Limits of `max_overall` connections, `max_per_address` of them from one address.
    pub fn new(max_overall: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            max_overall,
            max_per_address,
            open: Mutex::new(Open::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admit a connection from `ip`, or say which cap it would exceed. The permit gives the
    /// place back when dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Refused> {
        let key = client_key(ip);
        let mut open = self.lock();
        if open.total >= self.max_overall {
            return Err(Refused::Overall);
        }
        let mine = open.per_address.entry(key).or_insert(0);
        if *mine >= self.max_per_address {
            return Err(Refused::PerAddress);
        }
        *mine += 1;
        open.total += 1;
        Ok(ConnPermit {
            limits: Arc::clone(self),
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }
}

/// One admitted connection's place in [`ConnLimits`].
#[derive(Debug)]
pub struct ConnPermit {
    limits: Arc<ConnLimits>,
    key: IpAddr,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut open = self.limits.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_address.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.per_address.remove(&self.key);
            }
        }
    }
}

/// What one connection is doing: requests in flight and when the last one ended.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicUsize,
    served: AtomicBool,
    last: Mutex<Instant>,
    changed: Notify,
}

impl Activity {
    /// A connection that has just finished its TLS handshake.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            last: Mutex::new(Instant::now()),
            changed: Notify::new(),
        })
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Instant> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A request started; it counts as in flight until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.served.store(true, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
        Busy(Arc::clone(self))
    }

    /// Resolves once the connection has had no request in flight for `first` (before its
    /// first request) or `idle` (after one).
    pub async fn idle(&self, first: Duration, idle: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) > 0 {
                changed.await;
                continue;
            }
            let limit = if self.served.load(Ordering::SeqCst) {
                idle
            } else {
                first
            };
            let deadline = *self.last() + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = changed => {}
            }
        }
    }
}

/// A request in flight on a connection (see [`Activity::begin`]).
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.last() = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

/// A request body that fails if no bytes arrive for a while; `tripped` tells the service.
#[derive(Debug)]
pub struct PausingBody<B> {
    inner: B,
    pause: Duration,
    sleep: Pin<Box<Sleep>>,
    tripped: Arc<AtomicBool>,
}

impl<B> PausingBody<B> {
    /// Wrap `inner`; `pause` is the longest wait for its next bytes.
    pub fn new(inner: B, pause: Duration) -> (Self, Arc<AtomicBool>) {
        let tripped = Arc::new(AtomicBool::new(false));
        let body = Self {
            inner,
            pause,
            sleep: Box::pin(tokio::time::sleep(pause)),
            tripped: Arc::clone(&tripped),
        };
        (body, tripped)
    }
}

impl<B> HttpBody for PausingBody<B>
where
    B: HttpBody + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = Instant::now() + this.pause;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.tripped.store(true, Ordering::SeqCst);
                    Poll::Ready(Some(Err(Box::new(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request body paused too long",
                    )))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a request that took too long: 408 in the `ErrorBody` shape. On HTTP/1 the
/// connection is closed after it (the rest of the body is never read).
pub fn timeout_response(version: Version) -> Response<Body> {
    let body = ErrorBody {
        error: ERROR_REQUEST_TIMEOUT.into(),
        message: "the request took too long".into(),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if version < Version::HTTP_2 {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// File descriptors kept free for everything but client connections: the database and its
/// journal files, certificate reloads, standard streams, the runtime's own.
pub const FD_RESERVE: u64 = 64;

/// The process's soft limit on open file descriptors, where the system tells it
/// (`/proc/self/limits` on Linux); `None` elsewhere or when unlimited.
pub fn fd_soft_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_fd_soft_limit(&text)
}

fn parse_fd_soft_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The connection cap actually used: `configured`, lowered so that connections alone cannot
/// exhaust the descriptor limit `fd_limit` (less [`FD_RESERVE`]); at least 1.
pub fn effective_max_connections(configured: usize, fd_limit: Option<u64>) -> usize {
    match fd_limit {
        Some(limit) => {
            let room = usize::try_from(limit.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
            configured.min(room).max(1)
        }
        None => configured,
    }
}

/// Whether an `accept` error means the process is out of a resource (file descriptors,
/// buffers, memory) rather than that one client went away: then wait before the next accept.
pub fn is_resource_exhaustion(e: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) have the same numbers on Linux, the BSDs and macOS; the
    // standard library reports ENOMEM as `OutOfMemory`.
    matches!(e.raw_os_error(), Some(23 | 24)) || e.kind() == io::ErrorKind::OutOfMemory
}

/// Exponential back-off for the accept loop: 10 ms doubling up to 1 s, reset on success.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    next: Option<Duration>,
}

impl AcceptBackoff {
    /// The first back-off.
    pub const MIN: Duration = Duration::from_millis(10);
    /// The longest back-off.
    pub const MAX: Duration = Duration::from_secs(1);

    /// How long to wait after another failure.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next.unwrap_or(Self::MIN);
        self.next = Some((wait * 2).min(Self::MAX));
        wait
    }

    /// Whether the last accepts failed (the next success ends a streak).
    pub fn in_streak(&self) -> bool {
        self.next.is_some()
    }

    /// An accept succeeded.
    pub fn succeeded(&mut self) {
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_address_and_overall_and_give_back_on_drop() {
        let limits = ConnLimits::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let a1 = limits.admit(a).expect("first");
        let _a2 = limits.admit(a).expect("second");
        assert_eq!(limits.admit(a).err(), Some(Refused::PerAddress));
        let _b1 = limits.admit(b).expect("other address");
        assert_eq!(limits.admit(b).err(), Some(Refused::Overall));
        drop(a1);
        assert_eq!(limits.open(), 2);
        limits.admit(a).expect("a place was given back");
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_v4_as_v4() {
        let x: IpAddr = "2001:db8:1:2::10".parse().expect("ip");
        let y: IpAddr = "2001:db8:1:2:ffff::1".parse().expect("ip");
        let z: IpAddr = "2001:db8:1:3::10".parse().expect("ip");
        assert_eq!(client_key(x), client_key(y));
        assert_ne!(client_key(x), client_key(z));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(
            client_key(mapped),
            "192.0.2.1".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn backoff_doubles_to_a_ceiling_and_resets() {
        let mut b = AcceptBackoff::default();
        assert_eq!(b.failed(), AcceptBackoff::MIN);
        assert_eq!(b.failed(), AcceptBackoff::MIN * 2);
        for _ in 0..20 {
            b.failed();
        }
        assert_eq!(b.failed(), AcceptBackoff::MAX);
        b.succeeded();
        assert!(!b.in_streak());
        assert_eq!(b.failed(), AcceptBackoff::MIN);
    }

    #[test]
    fn the_cap_leaves_room_under_the_descriptor_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_fd_soft_limit(limits), Some(1024));
        assert_eq!(
            parse_fd_soft_limit("Max open files  unlimited unlimited files"),
            None
        );
        assert_eq!(effective_max_connections(2048, Some(1024)), 960);
        assert_eq!(effective_max_connections(100, Some(1024)), 100);
        assert_eq!(effective_max_connections(2048, None), 2048);
        assert_eq!(effective_max_connections(2048, Some(10)), 1);
    }

    #[test]
    fn descriptor_exhaustion_is_recognised() {
        assert!(is_resource_exhaustion(&io::Error::from_raw_os_error(24)));
        assert!(is_resource_exhaustion(&io::Error::from_raw_os_error(23)));
        assert!(!is_resource_exhaustion(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
    }

    #[tokio::test]
    async fn idle_waits_for_requests_to_end() {
        let activity = Activity::new();
        let busy = activity.begin();
        let watcher = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move {
                activity
                    .idle(Duration::from_millis(10), Duration::from_millis(10))
                    .await;
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!watcher.is_finished(), "a request in flight is never idle");
        drop(busy);
        tokio::time::timeout(Duration::from_secs(10), watcher)
            .await
            .expect("idle after the request ended")
            .expect("watcher");
    }
}

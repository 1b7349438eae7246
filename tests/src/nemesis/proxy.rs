//! The nemesis's TCP proxy between the devices and the server (TLS passes through it
//! untouched). Its target can move (the server restarts on a new port), and it carries out
//! armed faults on whichever connection next moves bytes: a request cut in the middle, a
//! response cut in the middle, or a response held half-sent for a while. At most one fault
//! of each kind is armed at a time, so faults armed while no bytes flow (the server stopped)
//! do not pile up into a burst.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// Faults armed and not yet carried out, and counts of those carried out.
#[derive(Debug, Default)]
struct Faults {
    cut_requests: AtomicUsize,
    cut_responses: AtomicUsize,
    delay: Mutex<Option<Duration>>,
    requests_cut: AtomicUsize,
    responses_cut: AtomicUsize,
    responses_delayed: AtomicUsize,
}

/// What the proxy actually did (an armed fault lands only when bytes next flow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Landed {
    /// Requests cut after part of them reached the server.
    pub requests_cut: usize,
    /// Responses cut after part of them reached the device.
    pub responses_cut: usize,
    /// Responses held half-sent for a while.
    pub responses_delayed: usize,
}

/// A running proxy.
#[derive(Debug, Clone)]
pub struct FaultProxy {
    /// Where devices connect.
    pub addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    faults: Arc<Faults>,
}

/// Arm one fault in `counter` unless one is armed already.
fn arm(counter: &AtomicUsize) -> bool {
    counter
        .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

/// Take one armed fault from `counter`, if any.
fn take(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl FaultProxy {
    /// Proxy a new loopback port to `target`.
    pub async fn start(target: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let proxy = FaultProxy {
            addr: listener.local_addr()?,
            target: Arc::new(Mutex::new(target)),
            faults: Arc::default(),
        };
        let shared = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let conn = shared.clone();
                tokio::spawn(async move {
                    let target = conn.target();
                    if let Ok(server) = TcpStream::connect(target).await {
                        conn.pipe(client, server).await;
                    }
                });
            }
        });
        Ok(proxy)
    }

    /// The proxy's `https://` address.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn target(&self) -> SocketAddr {
        *self
            .target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Send new connections to `target` (the server restarted there).
    pub fn retarget(&self, target: SocketAddr) {
        *self
            .target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = target;
    }

    /// Cut the next request in the middle: half its bytes reach the server, then both sides
    /// of the connection close. False (nothing armed) while one is armed already.
    pub fn cut_next_request(&self) -> bool {
        arm(&self.faults.cut_requests)
    }

    /// Cut the next response in the middle: half its bytes reach the device, then both sides
    /// close. False (nothing armed) while one is armed already.
    pub fn cut_next_response(&self) -> bool {
        arm(&self.faults.cut_responses)
    }

    /// Send half of the next response, wait `delay`, then send the rest. False (nothing
    /// armed) while one is armed already.
    pub fn delay_next_response(&self, delay: Duration) -> bool {
        let mut armed = self.delay();
        if armed.is_some() {
            return false;
        }
        *armed = Some(delay);
        true
    }

    fn delay(&self) -> std::sync::MutexGuard<'_, Option<Duration>> {
        self.faults
            .delay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forget every armed fault not yet carried out.
    pub fn disarm(&self) {
        self.faults.cut_requests.store(0, Ordering::SeqCst);
        self.faults.cut_responses.store(0, Ordering::SeqCst);
        *self.delay() = None;
    }

    /// What landed so far.
    pub fn landed(&self) -> Landed {
        Landed {
            requests_cut: self.faults.requests_cut.load(Ordering::SeqCst),
            responses_cut: self.faults.responses_cut.load(Ordering::SeqCst),
            responses_delayed: self.faults.responses_delayed.load(Ordering::SeqCst),
        }
    }

    async fn pipe(&self, client: TcpStream, server: TcpStream) {
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let faults = Arc::clone(&self.faults);
        let up = tokio::spawn(relay(client_read, server_write, Arc::clone(&faults), true));
        let down = tokio::spawn(relay(server_read, client_write, faults, false));
        // When either direction is cut, close the other at once.
        let (up_abort, down_abort) = (up.abort_handle(), down.abort_handle());
        tokio::select! {
            cut = up => if matches!(cut, Ok(true)) { down_abort.abort() },
            cut = down => if matches!(cut, Ok(true)) { up_abort.abort() },
        }
    }
}

/// Copy `from` to `to` until either closes; `upstream` is the device-to-server direction.
/// Returns whether a fault cut the connection.
async fn relay(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    faults: Arc<Faults>,
    upstream: bool,
) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let half = n.div_ceil(2);
        let cut = if upstream {
            take(&faults.cut_requests).then_some(&faults.requests_cut)
        } else {
            take(&faults.cut_responses).then_some(&faults.responses_cut)
        };
        if let Some(landed) = cut {
            let _ = to.write_all(&buf[..half]).await;
            landed.fetch_add(1, Ordering::SeqCst);
            return true;
        }
        if !upstream {
            let delay = faults
                .delay
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(delay) = delay {
                if to.write_all(&buf[..half]).await.is_err() {
                    break;
                }
                faults.responses_delayed.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                if to.write_all(&buf[half..n]).await.is_err() {
                    break;
                }
                continue;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback server that answers each read with the same bytes, twice over.
    async fn doubling_echo() -> Result<SocketAddr> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let twice = [&buf[..n], &buf[..n]].concat();
                        if socket.write_all(&twice).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Ok(addr)
    }

    /// Send `request` and read until the answer has `want` bytes or the connection ends.
    async fn exchange(proxy: &FaultProxy, request: &[u8], want: usize) -> Result<Vec<u8>> {
        let mut client = TcpStream::connect(proxy.addr).await?;
        client.write_all(request).await?;
        let mut answer = Vec::new();
        let mut buf = vec![0u8; 4096];
        while answer.len() < want {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        Ok(answer)
    }

    #[tokio::test]
    async fn armed_faults_cut_or_hold_one_exchange_each_and_follow_the_target() -> Result<()> {
        let first = doubling_echo().await?;
        let proxy = FaultProxy::start(first).await?;
        let request = [7u8; 100];
        assert_eq!(exchange(&proxy, &request, 200).await?.len(), 200);

        assert!(proxy.cut_next_response());
        assert!(!proxy.cut_next_response(), "one armed at a time");
        let cut = exchange(&proxy, &request, 200).await?;
        assert!(!cut.is_empty() && cut.len() < 200, "{} bytes", cut.len());
        assert_eq!(proxy.landed().responses_cut, 1);

        assert!(proxy.cut_next_request());
        let cut = exchange(&proxy, &request, 200).await?;
        assert!(cut.len() < 200, "{} bytes", cut.len());
        assert_eq!(proxy.landed().requests_cut, 1);

        assert!(proxy.delay_next_response(Duration::from_millis(300)));
        let started = std::time::Instant::now();
        assert_eq!(exchange(&proxy, &request, 200).await?.len(), 200);
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(proxy.landed().responses_delayed, 1);

        proxy.retarget(doubling_echo().await?);
        assert_eq!(exchange(&proxy, &request, 200).await?.len(), 200);
        assert!(proxy.cut_next_request());
        proxy.disarm();
        assert_eq!(exchange(&proxy, &request, 200).await?.len(), 200);
        Ok(())
    }
}

//! A TCP relay in front of the test server (TLS passes through it untouched) that can drop
//! a connection on demand: the next bytes a client sends after [`Relay::drop_next`] are
//! swallowed and both sides of that connection closed, as a phone network that loses a
//! request in flight. With [`Relay::hide_server_closes`] it behaves as a mobile network's
//! middlebox: a connection the server closes stays open for the client, and the client's
//! next request on it is answered by a reset.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running relay.
#[derive(Debug, Clone)]
pub struct Relay {
    /// Where clients connect.
    pub addr: SocketAddr,
    drop_next: Arc<AtomicBool>,
    hide_closes: Arc<AtomicBool>,
    dropped: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
}

impl Relay {
    /// Relay connections on a new loopback port to `target`.
    pub async fn start(target: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let relay = Relay {
            addr: listener.local_addr()?,
            drop_next: Arc::default(),
            hide_closes: Arc::default(),
            dropped: Arc::default(),
            connections: Arc::default(),
        };
        let shared = relay.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let conn = shared.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        conn.pipe(client, server).await;
                    }
                });
            }
        });
        Ok(relay)
    }

    /// The relay's `https://` address.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Swallow the next bytes any client sends and close that connection.
    pub fn drop_next(&self) {
        self.drop_next.store(true, Ordering::SeqCst);
    }

    /// Keep a connection the server closed open towards the client; close it (without
    /// forwarding anything) when the client sends on it.
    pub fn hide_server_closes(&self) {
        self.hide_closes.store(true, Ordering::SeqCst);
    }

    /// Connections dropped so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    async fn pipe(&self, client: TcpStream, server: TcpStream) {
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let server_gone = Arc::new(AtomicBool::new(false));
        let gone = Arc::clone(&server_gone);
        let hide = Arc::clone(&self.hide_closes);
        let down = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
            if hide.load(Ordering::SeqCst) {
                gone.store(true, Ordering::SeqCst);
                // Hold the client's side open until the relay drops it.
                std::future::pending::<()>().await;
            }
            let _ = client_write.shutdown().await;
        });
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if server_gone.load(Ordering::SeqCst) || self.drop_next.swap(false, Ordering::SeqCst) {
                self.dropped.fetch_add(1, Ordering::SeqCst);
                down.abort();
                return;
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
        let _ = down.await;
    }
}

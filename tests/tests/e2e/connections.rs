//! Idle and slow connections: hundreds of connections that never send a byte (or finish the
//! TLS handshake and then say nothing) and slowloris clients trickling headers or a body are
//! closed by the server within its timeouts, connections beyond the per-address cap are
//! refused before the handshake, and a real device keeps syncing throughout.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use casebook_core::client::client_config;
use casebook_server::{Clock, Settings, TestServer};
use casebook_tests::support::pin;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::held_request::{read_response, small_world};
use super::record_visit;

/// How much later than its timeout the server may close a connection (a loaded CI machine).
const MARGIN: Duration = Duration::from_secs(6);

fn settings() -> Settings {
    Settings {
        tls_handshake_timeout: Duration::from_secs(3),
        first_request_timeout: Duration::from_secs(3),
        header_read_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(4),
        body_pause_timeout: Duration::from_secs(2),
        max_connections_per_address: 150,
        ..Settings::default()
    }
}

/// A TCP connection to the server from the loopback address `from`.
async fn tcp_from(from: &str, server: SocketAddr) -> Result<TcpStream> {
    let ip: IpAddr = from.parse()?;
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(ip, 0))?;
    Ok(socket.connect(server).await?)
}

async fn tls_from(from: &str, server: &TestServer) -> Result<TlsStream<TcpStream>> {
    let tcp = tcp_from(from, server.addr).await?;
    let connector = TlsConnector::from(Arc::new(client_config(&pin(server))?));
    let name = ServerName::try_from("localhost")?.to_owned();
    Ok(connector.connect(name, tcp).await?)
}

/// Wait (at most `limit`) until the server closes `stream`; how long it took from `opened`.
async fn closed_by_server<S: AsyncRead + Unpin>(
    mut stream: S,
    opened: Instant,
    limit: Duration,
) -> Result<Duration> {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Ok(opened.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => bail!("still open after {limit:?}"),
        }
    }
}

/// Send `bytes` one at a time, `gap` apart, until the server stops taking them; how long
/// the connection lasted.
async fn trickle(mut stream: TlsStream<TcpStream>, bytes: Vec<u8>, gap: Duration) -> Duration {
    let opened = Instant::now();
    for b in bytes {
        if stream.write_all(&[b]).await.is_err() || stream.flush().await.is_err() {
            break;
        }
        tokio::time::sleep(gap).await;
    }
    opened.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_and_slow_connections_are_dropped_while_devices_keep_syncing() -> Result<()> {
    let s = settings();
    let w = small_world(Clock::System, s.clone()).await?;
    let server = &w.server;

    // A real phone syncs again and again, with new notes, throughout the attack.
    let stop = Arc::new(AtomicBool::new(false));
    let syncs = {
        let stop = Arc::clone(&stop);
        let guardian = &w.guardian;
        let case = w.case;
        async move {
            let mut done = 0u32;
            while !stop.load(Ordering::SeqCst) {
                record_visit(guardian, case, &format!("visit {done}"))?;
                guardian
                    .sync()
                    .await
                    .with_context(|| format!("sync {done} during the attack"))?;
                done += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            anyhow::Ok(done)
        }
    };

    let attack = async {
        // 150 connections from one address that never send a byte: the per-address cap.
        let mut silent = Vec::new();
        for _ in 0..150 {
            silent.push((tcp_from("127.0.0.2", server.addr).await?, Instant::now()));
        }
        // The 151st connection from the first address is closed before its handshake; a
        // connection from a third address still gets through.
        let refused = tls_from("127.0.0.2", server).await;
        assert!(refused.is_err(), "the per-address cap refuses the 151st");
        let admitted = tls_from("127.0.0.4", server).await?;
        drop(admitted);
        // 50 from another address that finish the TLS handshake and then say nothing.
        let mut mute = Vec::new();
        for _ in 0..50 {
            let stream = tls_from("127.0.0.3", server).await?;
            mute.push((stream, Instant::now()));
        }

        // Slowloris: headers one byte every 300 ms; a body one byte every 300 ms; a body
        // that stops halfway.
        let head = b"POST /v1/sync HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                     X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"
            .to_vec();
        let header_trickle = tokio::spawn(trickle(
            tls_from("127.0.0.5", server).await?,
            head,
            Duration::from_millis(300),
        ));
        let mut body_trickler = tls_from("127.0.0.6", server).await?;
        body_trickler
            .write_all(
                b"POST /v1/enrol HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                  Content-Length: 1000\r\n\r\n",
            )
            .await?;
        let body_trickle = tokio::spawn(trickle(
            body_trickler,
            vec![b' '; 1000],
            Duration::from_millis(300),
        ));
        let mut paused = tls_from("127.0.0.7", server).await?;
        paused
            .write_all(
                b"POST /v1/enrol HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                  Content-Length: 100\r\n\r\n{\"code\":",
            )
            .await?;
        paused.flush().await?;
        let paused_at = Instant::now();

        // Every silent connection is closed within the handshake timeout (+ margin), every
        // mute one within the first-request timeout (+ margin).
        let wait = MARGIN + s.request_timeout;
        for (stream, opened) in silent {
            let took = closed_by_server(stream, opened, wait).await?;
            assert!(took <= s.tls_handshake_timeout + MARGIN, "silent: {took:?}");
        }
        for (stream, opened) in mute {
            let took = closed_by_server(stream, opened, wait).await?;
            assert!(took <= s.first_request_timeout + MARGIN, "mute: {took:?}");
        }
        // The paused body is answered 408 request_timeout.
        let (status, body) = tokio::time::timeout(wait, read_response(&mut paused)).await??;
        assert_eq!(status, 408, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("request_timeout"));
        assert!(paused_at.elapsed() <= s.body_pause_timeout + MARGIN);
        // The slowloris clients were cut off long before they finished (each would take
        // over 30 s at its pace).
        let took = tokio::time::timeout(wait, header_trickle).await??;
        assert!(
            took <= s.header_read_timeout + MARGIN,
            "header trickle: {took:?}"
        );
        let took = tokio::time::timeout(wait, body_trickle).await??;
        assert!(took <= s.request_timeout + MARGIN, "body trickle: {took:?}");
        // The first address may connect again now that its connections are gone.
        drop(tls_from("127.0.0.2", server).await?);
        anyhow::Ok(())
    };

    let (done, attacked) = tokio::join!(syncs, async {
        let result = attack.await;
        stop.store(true, Ordering::SeqCst);
        result
    });
    attacked?;
    let done = done?;
    assert!(
        done >= 3,
        "the device synced {done} times during the attack"
    );
    Ok(())
}

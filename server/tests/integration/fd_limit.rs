//! Running out of file descriptors: a server child process under a low `ulimit -n` is flooded
//! with connections that never send a byte. The connection cap, lowered to fit the limit,
//! closes the excess at once instead of leaving them to exhaust the descriptors, and the
//! server answers again as soon as the flood goes away.

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The child's open-file limit; the server keeps 64 of them in reserve, so it admits 96.
const FD_LIMIT: u64 = 160;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let ip: IpAddr = from.parse().expect("ip");
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(to).await
}

/// Ask for a challenge with an empty body; the status line of the answer.
async fn ask(to: SocketAddr) -> std::io::Result<String> {
    let mut stream = connect_from("127.0.0.1", to).await?;
    stream
        .write_all(
            b"POST /v1/challenge HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
              Content-Length: 2\r\nConnection: close\r\n\r\n{}",
        )
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// Whether the server closes `stream` within `limit`.
async fn closed_within(mut stream: TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(limit, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_refused_before_descriptors_run_out_and_the_server_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {FD_LIMIT} && exec \"$0\" --insecure-loopback-for-tests --listen \"$1\" \
             --data-dir \"$2\""
        ))
        .arg(env!("CARGO_BIN_EXE_casebook-server"))
        .arg(addr.to_string())
        .arg(dir.path().join("data"))
        // Tests run in parallel: not the default metrics port every server would bind.
        .env("CASEBOOK_METRICS_LISTEN", "off")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn server");
    let mut server = Server(child);
    let log = || std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();

    // Wait until it answers.
    let mut ready = false;
    for _ in 0..300 {
        if let Ok(Ok(status)) = tokio::time::timeout(Duration::from_secs(5), ask(addr)).await {
            assert!(status.starts_with("HTTP/1.1 4"), "{status}");
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "server did not start: {}", log());

    // 180 silent connections from three addresses (60 each, under the per-address cap of 64):
    // more than the descriptors allow.
    let mut flood = Vec::new();
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        for _ in 0..60 {
            flood.push(connect_from(from, addr).await.expect("connect"));
        }
    }
    let checks: Vec<_> = flood
        .into_iter()
        .map(|s| tokio::spawn(closed_within(s, Duration::from_secs(3))))
        .collect();
    let mut closed = 0;
    for check in checks {
        if check.await.expect("check") {
            closed += 1;
        }
    }
    // The cap is 160 - 64 = 96: the other 84 are closed at once.
    assert!(closed >= 84, "only {closed} of 180 refused: {}", log());
    assert!(server.0.try_wait().expect("child").is_none(), "server died");

    // The flood is gone (the admitted ones closed by the client); the server answers again
    // within 20 s. Until it has noticed every closed connection and given its descriptors
    // back, a new connection may still be refused at once (a reset): that is the cap working,
    // so the question is asked again until the deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        match tokio::time::timeout_at(deadline, ask(addr)).await {
            Ok(Ok(status)) => break status,
            Ok(Err(e)) if tokio::time::Instant::now() < deadline => {
                eprintln!("not answered yet ({e}); asking again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(Err(e)) => panic!("not answered within 20 s: {e}: {}", log()),
            Err(_) => panic!("not answered within 20 s: {}", log()),
        }
    };
    assert!(status.starts_with("HTTP/1.1 4"), "{status}");
    assert!(
        log().contains("connection cap lowered"),
        "the cap was lowered: {}",
        log()
    );
}

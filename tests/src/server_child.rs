//! A real server in a child process, for tests that kill it, stop it or measure its memory:
//! the child's side ([`serve`]: the library's `serve` on a data directory, as `main` runs it,
//! announcing `READY <addr> <fingerprint> <admin code or ->` once it listens) and the
//! parent's ([`wait_ready`]: read that line).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;

use anyhow::{Context, Result, bail};
use casebook_core::client::ServerTrust;

/// Serve on `dir` with `settings` until killed (in the child).
pub fn serve(dir: &Path, settings: casebook_server::Settings) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let opened = casebook_server::open_data_dir(dir, casebook_server::Clock::System, settings)?;
        let tls = casebook_server::TlsConfig::development(dir)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        println!(
            "READY {} {} {}",
            listener.local_addr()?,
            tls.fingerprint(),
            opened.first_admin_code.as_deref().unwrap_or("-")
        );
        casebook_server::serve(
            listener,
            Some(tls),
            opened.state,
            tokio_util::sync::CancellationToken::new(),
        )
        .await?;
        anyhow::Ok(())
    })
}

/// What a child announced once it listens.
#[derive(Debug, Clone)]
pub struct Ready {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its certificate's fingerprint, pinned by the devices.
    pub fingerprint: String,
    /// The first administrator's enrolment code (a new data directory only).
    pub admin_code: Option<String>,
}

impl Ready {
    /// The server's URL.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// How devices trust it: its pinned certificate.
    pub fn trust(&self) -> ServerTrust {
        ServerTrust::Pin(self.fingerprint.clone())
    }
}

/// Read the child's piped stdout until its `READY` line; the rest of its output is drained on
/// a thread, so the child never blocks on a full pipe. An error when the child ends first
/// (the caller kills and reaps it).
pub fn wait_ready(child: &mut Child) -> Result<Ready> {
    let stdout = child.stdout.take().context("the server child's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next().transpose()? {
        let Some((_, rest)) = line.split_once("READY ") else {
            continue;
        };
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let [addr, fingerprint, code] = parts[..] else {
            bail!("unexpected line from the server child: {line}");
        };
        let ready = Ready {
            addr: addr.parse()?,
            fingerprint: fingerprint.to_owned(),
            admin_code: (code != "-").then(|| code.to_owned()),
        };
        std::thread::spawn(move || lines.for_each(drop));
        return Ok(ready);
    }
    bail!("the server child ended before it was ready")
}

/// Run this test binary again as a server child: only the test named `test` (`--exact`), which
/// serves when it finds `env` set. Waits until it listens; on failure the child is killed and
/// reaped.
pub fn spawn(test: &str, env: &[(&str, &std::ffi::OsStr)]) -> Result<(Child, Ready)> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn()?;
    match wait_ready(&mut child) {
        Ok(ready) => Ok((child, ready)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

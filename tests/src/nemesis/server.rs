//! The real server as a child process the nemesis can kill, restart, stop and continue. The
//! child runs the library's `serve` as `main` does ([`serve_child`]), on a data directory
//! that outlives it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Result, ensure};
use casebook_core::client::ServerTrust;

use crate::server_child::{Ready, wait_ready};

/// Makes the command that runs a server child: a process that calls [`serve_child`] when
/// [`CHILD_ENV`] is set.
pub type ServerCommand = Box<dyn Fn() -> Command + Send + Sync>;

/// Set in a child process's environment to make it serve: the server's data directory.
pub const CHILD_ENV: &str = "CASEBOOK_NEMESIS_SERVER_DIR";

/// The server's settings under the nemesis: the defaults, but for the challenge limits
/// (30 a device in 15 minutes) and the sync rate (120 requests a minute a device), which
/// the nemesis's devices, syncing every fraction of a second (a phone's day of syncs in a
/// minute), would otherwise reach. Those limits have their own tests.
pub fn settings() -> casebook_server::Settings {
    casebook_server::Settings {
        max_challenges_per_device: 1_000_000,
        max_challenges_per_address: 1_000_000,
        sync_per_minute: 0,
        ..casebook_server::Settings::default()
    }
}

/// Run a real server (the library's `serve`, as `main` runs it, with [`settings`]) on `dir`
/// until killed, printing `READY <addr> <fingerprint> <admin code or ->` once it listens.
pub fn serve_child(dir: &Path) -> Result<()> {
    // The nemesis holds this child's stdin open; when the nemesis dies, however it dies, its
    // server goes with it.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    crate::server_child::serve(dir, settings())
}

/// A running server child.
pub struct ServerProcess {
    child: Child,
    command: ServerCommand,
    data_dir: PathBuf,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its certificate's fingerprint, pinned by the devices.
    pub trust: ServerTrust,
    /// The first administrator's enrolment code (first start only).
    pub admin_code: Option<String>,
    stopped: bool,
}

impl std::fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerProcess")
            .field("pid", &self.child.id())
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.stopped {
            let _ = self.signal("CONT");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(command: &ServerCommand, data_dir: &Path) -> Result<(Child, Ready)> {
    let mut child = command()
        .env(CHILD_ENV, data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    match wait_ready(&mut child) {
        Ok(ready) => Ok((child, ready)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

impl ServerProcess {
    /// Start a server child on `data_dir`.
    pub fn start(command: ServerCommand, data_dir: &Path) -> Result<Self> {
        let (child, ready) = spawn(&command, data_dir)?;
        Ok(Self {
            child,
            command,
            data_dir: data_dir.to_owned(),
            addr: ready.addr,
            trust: ready.trust(),
            admin_code: ready.admin_code,
            stopped: false,
        })
    }

    /// SIGKILL the child (stopped or not) and start a new one on the same data directory;
    /// its certificate must be the same.
    pub fn kill_and_restart(&mut self) -> Result<()> {
        self.kill()?;
        let (child, ready) = spawn(&self.command, &self.data_dir)?;
        ensure!(
            self.trust == ready.trust(),
            "the restarted server presents another certificate"
        );
        self.child = child;
        self.addr = ready.addr;
        Ok(())
    }

    /// SIGKILL the child and wait for it.
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        self.stopped = false;
        Ok(())
    }

    /// SIGSTOP the child.
    pub fn stop(&mut self) -> Result<()> {
        self.signal("STOP")?;
        self.stopped = true;
        Ok(())
    }

    /// SIGCONT the child (after [`ServerProcess::stop`]).
    pub fn resume(&mut self) -> Result<()> {
        if self.stopped {
            self.signal("CONT")?;
            self.stopped = false;
        }
        Ok(())
    }

    /// Whether the child is stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Send `signal` to this child alone (by its process id, while it is still ours: it
    /// has not been waited for).
    fn signal(&self, signal: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status()?;
        ensure!(status.success(), "kill -{signal} failed");
        Ok(())
    }
}

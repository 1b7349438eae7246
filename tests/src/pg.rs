//! A PostgreSQL cluster for the cross-crate tests and benches: the one named by
//! `CASEBOOK_TEST_POSTGRES` or `CASEBOOK_PG_CLUSTER` (as `scripts/test-all.sh` starts it), or,
//! for a bench run by hand, a throwaway one started here with `scripts/pg-cluster.sh` and
//! stopped when dropped.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The variables that name a running cluster's `postgres` database.
const URL_VARIABLES: [&str; 2] = ["CASEBOOK_TEST_POSTGRES", "CASEBOOK_PG_CLUSTER"];

/// The running cluster's URL, or `None` when there is none (the caller skips, saying so).
///
/// # Panics
/// When there is none but `CASEBOOK_REQUIRE_POSTGRES=1` (as `scripts/test-all.sh` sets).
pub fn from_env() -> Option<String> {
    let url = URL_VARIABLES
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    if url.is_none() {
        assert!(
            std::env::var("CASEBOOK_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "CASEBOOK_REQUIRE_POSTGRES=1 but no cluster: set CASEBOOK_PG_CLUSTER \
             (scripts/pg-cluster.sh start DIR prints it)"
        );
        eprintln!("no PostgreSQL cluster (CASEBOOK_PG_CLUSTER): PostgreSQL test skipped");
    }
    url
}

/// The newest installed PostgreSQL's program `name` (`pg_dump`, `psql`), from Debian's
/// `/usr/lib/postgresql/<version>/bin`.
pub fn bin(name: &str) -> Result<PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed (/usr/lib/postgresql)")?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().with_context(|| format!("no PostgreSQL {name}"))
}

/// A cluster to run against.
#[derive(Debug)]
pub struct Cluster {
    url: String,
    /// The directory of a cluster started here (stopped and removed on drop).
    started: Option<tempfile::TempDir>,
}

impl Cluster {
    /// The cluster named in the environment, else a throwaway one if PostgreSQL is installed,
    /// else `None`.
    pub fn for_bench() -> Result<Option<Self>> {
        if let Some(url) = URL_VARIABLES
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        {
            return Ok(Some(Self { url, started: None }));
        }
        let installed = std::fs::read_dir("/usr/lib/postgresql")
            .map(|dirs| {
                dirs.flatten()
                    .any(|d| d.path().join("bin").join("initdb").exists())
            })
            .unwrap_or(false);
        if !installed {
            return Ok(None);
        }
        Self::throwaway().map(Some)
    }

    /// A cluster of its own, started here (for a test that stops and restarts it, which the
    /// shared one must not be), stopped and removed when dropped.
    pub fn throwaway() -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("casebook-pg-").tempdir()?;
        let url = run_script("start", dir.path())?;
        Ok(Self {
            url,
            started: Some(dir),
        })
    }

    /// Stop a cluster started here (`pg_ctl stop -m fast`: open connections are cut).
    pub fn stop(&self) -> Result<()> {
        run_script("stop", self.own_dir()?).map(drop)
    }

    /// Start again a cluster started here and stopped.
    pub fn start(&self) -> Result<()> {
        run_script("start", self.own_dir()?).map(drop)
    }

    /// The directory of a cluster started here; a cluster named by the environment is not
    /// this process's to stop or start.
    fn own_dir(&self) -> Result<&std::path::Path> {
        Ok(self
            .started
            .as_ref()
            .context("only a cluster started here")?
            .path())
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(dir) = &self.started {
            let _ = Command::new("bash")
                .arg(script())
                .arg("stop")
                .arg(dir.path())
                .output();
        }
    }
}

/// `scripts/pg-cluster.sh ACTION DIR` (its socket in DIR, so clusters in different
/// directories never collide); what it printed.
fn run_script(action: &str, dir: &std::path::Path) -> Result<String> {
    let out = Command::new("bash")
        .arg(script())
        .arg(action)
        .arg(dir)
        .env("CASEBOOK_PG_PORT", "5434")
        .output()
        .context("scripts/pg-cluster.sh")?;
    if !out.status.success() {
        bail!(
            "scripts/pg-cluster.sh {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-cluster.sh")
}

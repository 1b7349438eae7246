//! A commit survives SIGKILL: a child process (this test binary, re-executed) writes batches
//! and reports each commit; the parent kills it at a random moment, reopens the store, and
//! finds it intact with every reported commit present.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use casebook_core::Error;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::CaseId;
use casebook_core::store::*;
use rand::Rng;

/// Set to the store's path in the child, which then writes until it is killed.
const CHILD_ENV: &str = "CASEBOOK_KILL_CHILD";
const CHILD_TEST: &str = "kill_child_writer";
const ITERATIONS: usize = 5;
const SIGKILL: i32 = 9;

fn key() -> Result<StoreKey> {
    Ok(StoreKey::from_bytes(&[0x4b; 32])?)
}

fn docs() -> [DocId; 2] {
    let case = CaseId::from_bytes([0x33; 16]);
    [
        DocId::new(case, DocKind::Visits),
        DocId::new(case, DocKind::Safety),
    ]
}

/// The chunk commit `n` appends to `doc`: recognisable and a few hundred bytes long, so
/// commits span pages and the WAL grows past checkpoints.
fn payload(n: u64, doc: usize) -> Vec<u8> {
    let mut bytes = format!("commit {n} doc {doc};").into_bytes();
    bytes.resize(200 + (n as usize * 37) % 900, b'a' + (n % 26) as u8);
    bytes
}

/// The child's side: append to both documents in one batch per commit, forever.
#[test]
fn kill_child_writer() -> Result<()> {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return Ok(()); // Not the child: nothing to do.
    };
    let mut store = SqliteStore::open(Path::new(&path), key()?)?;
    let [a, b] = docs();
    let mut n = store.load(&a)?.map_or(0, |d| d.last_chunk);
    let mut out = std::io::stdout().lock();
    loop {
        n += 1;
        store.apply(vec![
            WriteOp::AppendChunk {
                doc: a,
                bytes: payload(n, 0),
                local: true,
            },
            WriteOp::AppendChunk {
                doc: b,
                bytes: payload(n, 1),
                local: n % 3 == 0,
            },
            WriteOp::PutMeta {
                key: "last-commit".into(),
                value: n.to_be_bytes().to_vec(),
            },
        ])?;
        writeln!(out, "committed {n}")?;
        out.flush()?;
    }
}

/// Run the child on `path` until it has reported `commits` commits, then SIGKILL it.
/// Returns the last commit read before the kill and the last commit it reported at all: the
/// writer goes on committing while the kill is on its way (more than one commit when the
/// machine is busy), and what it reported meanwhile is still in the pipe.
fn run_and_kill(path: &Path, commits: usize) -> Result<(u64, u64)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawn the writer")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut reported = Vec::new();
    // Keep the pipe open until the kill, so the writer cannot stop on a broken pipe first.
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        // The first report shares its line with libtest's "test kill_child_writer ... ".
        if let Some((_, n)) = line.split_once("committed ") {
            reported.push(n.parse::<u64>()?);
            if reported.len() == commits {
                break;
            }
        }
    }
    // Kill it mid-write: it keeps committing while we read.
    child.kill()?; // SIGKILL on Unix.
    let status = child.wait()?;
    let mut last_written = reported.last().copied().unwrap_or_default();
    for line in lines {
        if let Some((_, n)) = line?.split_once("committed ") {
            let n = n.parse::<u64>()?;
            ensure!(n == last_written + 1, "commits reported out of order");
            last_written = n;
        }
    }
    ensure!(
        status.signal() == Some(SIGKILL),
        "the writer was not killed but exited: {status}"
    );
    ensure!(
        reported.len() == commits,
        "the writer stopped after {reported:?}"
    );
    ensure!(
        reported.windows(2).all(|w| w[1] == w[0] + 1),
        "commits reported out of order"
    );
    let last_read = reported.last().copied().context("no commit reported")?;
    Ok((last_read, last_written))
}

fn store_files(db: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut files = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = PathBuf::from(name);
        if path.exists() {
            let bytes = std::fs::read(&path)?;
            files.push((path, bytes));
        }
    }
    Ok(files)
}

#[test]
fn commits_survive_sigkill() -> Result<()> {
    if std::env::var_os(CHILD_ENV).is_some() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.db");
    let mut rng = rand::thread_rng();
    let mut previous = 0;
    for iteration in 0..ITERATIONS {
        let commits = rng.gen_range(50..300);
        let (last_read, last_reported) = run_and_kill(&path, commits)?;
        ensure!(
            last_read == previous + commits as u64,
            "iteration {iteration}: the writer reported up to {last_read} after {commits} commits, resuming after {previous}"
        );

        // A wrong key after a crash (hot WAL on disk) still changes nothing.
        let before = store_files(&path)?;
        match SqliteStore::open(&path, StoreKey::from_bytes(&[0x4c; 32])?) {
            Err(Error::WrongKey) => {}
            other => bail!("expected WrongKey, got {other:?}"),
        }
        ensure!(before.len() == 3, "expected db, -wal and -shm after a kill");
        ensure!(
            store_files(&path)? == before,
            "a wrong key changed the files"
        );

        let store = SqliteStore::open(&path, key()?)?;
        ensure!(
            store.integrity_check()?,
            "iteration {iteration}: not intact"
        );
        let [a, b] = docs();
        let loaded_a = store.load(&a)?.context("first document")?;
        let loaded_b = store.load(&b)?.context("second document")?;
        // Every reported commit is there (those reported while the kill was on its way too); at
        // most the one in flight at the kill is extra.
        let stored = loaded_a.last_chunk;
        ensure!(
            stored == last_reported || stored == last_reported + 1,
            "iteration {iteration}: {stored} stored, {last_reported} reported"
        );
        ensure!(loaded_b.last_chunk == stored, "a batch was torn");
        ensure!(loaded_a.chunks.len() as u64 == stored);
        for (i, (chunk_a, chunk_b)) in loaded_a.chunks.iter().zip(&loaded_b.chunks).enumerate() {
            let n = i as u64 + 1;
            ensure!(
                *chunk_a == payload(n, 0),
                "commit {n} damaged in the first document"
            );
            ensure!(
                *chunk_b == payload(n, 1),
                "commit {n} damaged in the second document"
            );
        }
        ensure!(store.meta("last-commit")? == Some(stored.to_be_bytes().to_vec()));
        ensure!(store.dirty()?.len() == 2);
        previous = stored;
    }
    Ok(())
}

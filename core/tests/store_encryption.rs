//! Data at rest is encrypted: a distinctive canary written through every kind of write never
//! appears in the database, its WAL or its shared-memory file, open or closed; a wrong key is
//! refused without changing a byte.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use casebook_core::Error;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::CaseId;
use casebook_core::store::*;
use chrono::{TimeZone, Utc};

const CANARY: &str = "CANARY-7f3a9c-Amira-Haddad";

fn key(byte: u8) -> Result<StoreKey> {
    Ok(StoreKey::from_bytes(&[byte; 32])?)
}

/// The database file and its WAL and shared-memory companions, where present.
fn store_files(db: &Path) -> Vec<PathBuf> {
    let mut files = vec![db.to_owned()];
    for suffix in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = PathBuf::from(name);
        if path.exists() {
            files.push(path);
        }
    }
    files
}

/// The files among `files` whose raw bytes contain `needle`, and how many bytes were read.
fn files_containing(files: &[PathBuf], needle: &[u8]) -> Result<(Vec<PathBuf>, usize)> {
    let mut hits = Vec::new();
    let mut scanned = 0;
    for file in files {
        let bytes = std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
        scanned += bytes.len();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            hits.push(file.clone());
        }
    }
    Ok((hits, scanned))
}

fn canary_writes(doc: DocId) -> Result<Vec<WriteOp>> {
    let bytes = format!("chunk:{CANARY}").into_bytes();
    Ok(vec![
        WriteOp::AppendChunk {
            doc,
            bytes: bytes.clone(),
            local: true,
        },
        WriteOp::AppendChunk {
            doc,
            bytes,
            local: true,
        },
        WriteOp::Compact {
            doc,
            snapshot: format!("snapshot:{CANARY}").into_bytes(),
            upto: 1,
        },
        WriteOp::PutSummary(CaseSummary {
            case: doc.case,
            reference: format!("ref:{CANARY}"),
            display_name: CANARY.to_owned(),
            updated_at: Utc
                .timestamp_opt(1_700_000_000, 0)
                .single()
                .context("valid time")?,
        }),
        WriteOp::PutSyncState {
            peer: "server".into(),
            doc,
            state: format!("state:{CANARY}").into_bytes(),
        },
        WriteOp::PutMeta {
            key: "note".into(),
            value: format!("meta:{CANARY}").into_bytes(),
        },
    ])
}

#[test]
fn the_canary_never_reaches_the_disk_in_plaintext() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let doc = DocId::new(CaseId::from_bytes([0x5a; 16]), DocKind::Visits);

    // Control: the same content in an unencrypted SQLite file is found by the scan.
    let control = dir.path().join("control.db");
    {
        let conn = rusqlite::Connection::open(&control)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v TEXT, b BLOB);")?;
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2)",
            (CANARY, format!("chunk:{CANARY}").into_bytes()),
        )?;
        let (hits, _) = files_containing(&store_files(&control), CANARY.as_bytes())?;
        ensure!(!hits.is_empty(), "the scan cannot see a plaintext canary");
    }
    let (hits, _) = files_containing(&store_files(&control), CANARY.as_bytes())?;
    ensure!(hits == [control.clone()], "control after close: {hits:?}");

    let path = dir.path().join("store.db");
    let mut store = SqliteStore::open(&path, key(1)?)?;
    store.apply(canary_writes(doc)?)?;
    store.apply(vec![WriteOp::AppendChunk {
        doc,
        bytes: format!("later:{CANARY}").into_bytes(),
        local: false,
    }])?;

    // While open, the recent commits live in the WAL: it must be there and encrypted too.
    let open_files = store_files(&path);
    ensure!(
        open_files.len() == 3,
        "expected db, -wal and -shm: {open_files:?}"
    );
    let (hits, scanned) = files_containing(&open_files, CANARY.as_bytes())?;
    ensure!(hits.is_empty(), "canary in plaintext while open: {hits:?}");
    ensure!(scanned > 4096, "scanned only {scanned} bytes");
    for needle in [&b"SQLite format 3"[..], b"Amira", b"Haddad"] {
        let (hits, _) = files_containing(&open_files, needle)?;
        ensure!(hits.is_empty(), "{needle:?} found in {hits:?}");
    }
    drop(store);

    let (hits, scanned) = files_containing(&store_files(&path), CANARY.as_bytes())?;
    ensure!(hits.is_empty(), "canary in plaintext after close: {hits:?}");
    ensure!(scanned > 4096, "scanned only {scanned} bytes");

    // Everything reads back with the right key.
    let store = SqliteStore::open(&path, key(1)?)?;
    let loaded = store.load(&doc)?.context("document stored")?;
    ensure!(loaded.snapshot == Some(format!("snapshot:{CANARY}").into_bytes()));
    ensure!(loaded.chunks.len() == 2 && loaded.last_chunk == 3);
    ensure!(store.cases()?[0].display_name == CANARY);
    ensure!(store.meta("note")? == Some(format!("meta:{CANARY}").into_bytes()));
    Ok(())
}

#[test]
fn a_wrong_key_is_refused_and_leaves_the_file_identical() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.db");
    let doc = DocId::new(CaseId::from_bytes([0x11; 16]), DocKind::Profile);
    {
        let mut store = SqliteStore::open(&path, key(1)?)?;
        store.apply(canary_writes(doc)?)?;
    }
    let snapshot = |files: &[PathBuf]| -> Result<Vec<(PathBuf, Vec<u8>)>> {
        files
            .iter()
            .map(|f| Ok((f.clone(), std::fs::read(f)?)))
            .collect()
    };
    let before = snapshot(&store_files(&path))?;

    for wrong in [key(2)?, key(0)?, StoreKey::from_vec((0..32).collect())?] {
        match SqliteStore::open(&path, wrong) {
            Err(Error::WrongKey) => {}
            other => anyhow::bail!("expected WrongKey, got {other:?}"),
        }
        ensure!(
            snapshot(&store_files(&path))? == before,
            "a wrong key changed the store's files"
        );
    }

    let store = SqliteStore::open(&path, key(1)?)?;
    ensure!(store.integrity_check()?);
    ensure!(store.load(&doc)?.context("document stored")?.chunks.len() == 1);
    ensure!(store.cases()?.len() == 1);
    Ok(())
}

#[test]
fn a_plain_sqlite_file_is_not_opened_as_a_store() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("plain.db");
    rusqlite::Connection::open(&path)?.execute_batch("CREATE TABLE t (v TEXT);")?;
    let before = std::fs::read(&path)?;
    match SqliteStore::open(&path, key(1)?) {
        Err(Error::WrongKey) => {}
        other => anyhow::bail!("expected WrongKey, got {other:?}"),
    }
    ensure!(std::fs::read(&path)? == before);
    Ok(())
}

#[test]
fn keys_must_be_32_bytes_and_never_print() -> Result<()> {
    for len in [0, 16, 31, 33] {
        match StoreKey::from_vec(vec![0x41; len]) {
            Err(Error::BadKeyLength(n)) => ensure!(n == len),
            other => anyhow::bail!("expected BadKeyLength, got {other:?}"),
        }
    }
    let shown = format!("{:?}", key(0x41)?);
    ensure!(shown == "StoreKey(..)", "{shown}");
    Ok(())
}

#[test]
fn wipe_leaves_no_trace_in_the_files() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.db");
    let doc = DocId::new(CaseId::from_bytes([0x22; 16]), DocKind::Location);
    let mut store = SqliteStore::open(&path, key(1)?)?;
    store.apply(canary_writes(doc)?)?;
    store.wipe()?;
    ensure!(store.docs()?.is_empty() && store.cases()?.is_empty());
    ensure!(store.integrity_check()?);
    let wal = store_files(&path)
        .into_iter()
        .find(|f| f.to_string_lossy().ends_with("-wal"));
    if let Some(wal) = wal {
        ensure!(std::fs::metadata(&wal)?.len() == 0, "WAL not truncated");
    }
    // Vacuumed: the file is exactly as large as an empty store's, no freed pages kept.
    let empty_path = dir.path().join("empty.db");
    let mut empty = SqliteStore::open(&empty_path, key(1)?)?;
    empty.wipe()?;
    let (wiped_len, empty_len) = (
        std::fs::metadata(&path)?.len(),
        std::fs::metadata(&empty_path)?.len(),
    );
    ensure!(
        wiped_len == empty_len,
        "{wiped_len} bytes after wipe, {empty_len} empty"
    );
    store.apply(vec![WriteOp::PutMeta {
        key: "k".into(),
        value: b"v".to_vec(),
    }])?;
    drop(store);
    let store = SqliteStore::open(&path, key(1)?)?;
    ensure!(store.meta("k")? == Some(b"v".to_vec()));
    ensure!(store.load(&doc)?.is_none());
    Ok(())
}

/// What someone holding the store key recovers from the files as they are on disk right
/// now, the store still open: for every commit recorded in the WAL, the database file plus
/// the WAL up to that commit is copied aside and opened, and `doc` loaded. Returns how many
/// of those states hold `doc` with the canary in its chunks.
fn states_in_wal_holding_canary(path: &Path, doc: DocId, key_byte: u8) -> Result<usize> {
    let db = std::fs::read(path)?;
    let mut wal_path = path.as_os_str().to_owned();
    wal_path.push("-wal");
    let wal = std::fs::read(PathBuf::from(wal_path)).unwrap_or_default();
    // The WAL format: a 32-byte header (page size at bytes 8..12), then frames of a
    // 24-byte header and one page; a frame whose bytes 4..8 are non-zero ends a commit.
    let mut commit_ends = vec![0];
    if wal.len() >= 32 {
        let page = u32::from_be_bytes(wal[8..12].try_into()?) as usize;
        let mut at = 32;
        while at + 24 + page <= wal.len() {
            if wal[at + 4..at + 8] != [0, 0, 0, 0] {
                commit_ends.push(at + 24 + page);
            }
            at += 24 + page;
        }
    }
    let mut holding = 0;
    for end in commit_ends {
        let dir = tempfile::tempdir()?;
        let copy = dir.path().join("copy.db");
        std::fs::write(&copy, &db)?;
        if end > 0 {
            std::fs::write(dir.path().join("copy.db-wal"), &wal[..end])?;
        }
        let Ok(store) = SqliteStore::open(&copy, key(key_byte)?) else {
            continue;
        };
        let found = store.load(&doc)?.is_some_and(|d| {
            d.chunks
                .iter()
                .any(|c| c.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()))
        });
        holding += usize::from(found);
    }
    Ok(holding)
}

#[test]
fn a_purged_document_is_not_left_in_the_wal_while_the_store_is_open() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.db");
    let purged = DocId::new(CaseId::from_bytes([0x33; 16]), DocKind::Location);
    let kept = DocId::new(CaseId::from_bytes([0x44; 16]), DocKind::Visits);
    let mut store = SqliteStore::open(&path, key(1)?)?;
    store.apply(vec![
        WriteOp::AppendChunk {
            doc: purged,
            bytes: format!("location:{CANARY}").into_bytes(),
            local: false,
        },
        WriteOp::AppendChunk {
            doc: kept,
            bytes: b"visit".to_vec(),
            local: true,
        },
    ])?;
    // Control: the replay sees the document in the WAL before the purge.
    ensure!(
        states_in_wal_holding_canary(&path, purged, 1)? > 0,
        "the WAL replay cannot see an unpurged document"
    );

    // The purge as the sync session applies it (access ended).
    store.apply(vec![
        WriteOp::RemoveDoc(purged),
        WriteOp::RemoveSummary(purged.case),
    ])?;
    ensure!(store.load(&purged)?.is_none());
    let holding = states_in_wal_holding_canary(&path, purged, 1)?;
    ensure!(
        holding == 0,
        "{holding} commit(s) in the open store's WAL still hold the purged document"
    );
    // The store stays open and usable, the other document intact.
    ensure!(store.load(&kept)?.is_some());
    store.apply(vec![WriteOp::PutMeta {
        key: "after".into(),
        value: b"purge".to_vec(),
    }])?;
    ensure!(store.integrity_check()?);
    Ok(())
}

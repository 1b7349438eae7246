//! Opening an SQLCipher connection: the raw key is proven right before anything can write to
//! the file, then the connection is set up for durability and to leave no plaintext behind.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use zeroize::Zeroizing;

use super::key::StoreKey;
use crate::error::{Error, Result};

/// Whether a connection turns on SQLCipher's memory security: every buffer SQLCipher frees
/// wiped, every one it allocates locked out of swap (`mlock`). It is a process-wide switch
/// that can only be turned on: once a connection asks for it, every connection of the process
/// has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySecurity {
    /// Turn it on (a device's store: one user, a few requests at a time).
    On,
    /// Leave the process's setting as it is: off unless a connection turned it on (the
    /// server's database). Each `mlock` and `munlock` takes the process's memory-map lock,
    /// so under concurrent requests every thread queues behind them: 200 syncs a second on
    /// the server's SQLite had a median of 2.6 s with it on and 2.8 ms without (2026-12-03).
    Unchanged,
}

/// A connection to the database at `path` (created if missing), unlocked with `key` and
/// configured; the schema is not touched.
///
/// # Errors
/// [`Error::WrongKey`] if `key` does not decrypt the file, in which case no byte of the
/// database, its WAL or its shared-memory index was changed;
/// [`Error::EncryptionUnavailable`] if the linked SQLite is not SQLCipher.
pub(super) fn open(path: &Path, key: StoreKey, memory: MemorySecurity) -> Result<Connection> {
    wait_until_sqlcipher_is_ready()?;
    let raw_key = key.sqlcipher_raw_key();
    drop(key);
    probe_key(path, &raw_key)?;
    let conn = Connection::open(path)?;
    unlock(&conn, &raw_key, memory)?;
    drop(raw_key);
    configure(&conn)?;
    Ok(conn)
}

/// A read-only connection to an existing database already proven to open with `key`.
pub(super) fn open_reader(
    path: &Path,
    key: &StoreKey,
    memory: MemorySecurity,
) -> Result<Connection> {
    wait_until_sqlcipher_is_ready()?;
    let raw_key = key.sqlcipher_raw_key();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    unlock(&conn, &raw_key, memory)?;
    conn.execute_batch("PRAGMA temp_store = MEMORY;")?;
    Ok(conn)
}

/// Copy the whole database of `conn` (schema, rows and `user_version`) into a new SQLCipher
/// file at `to`, encrypted under `key`, with SQLCipher's `sqlcipher_export`: how a database's
/// key is changed without rewriting the live file in place. `to` must not exist yet.
pub(super) fn export(conn: &Connection, to: &Path, key: &StoreKey) -> Result<()> {
    if to.exists() {
        return Err(Error::Storage(rusqlite::Error::InvalidPath(to.to_owned())));
    }
    let target = to
        .to_str()
        .ok_or_else(|| Error::Storage(rusqlite::Error::InvalidPath(to.to_owned())))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let raw_key = key.sqlcipher_raw_key();
    conn.execute(
        "ATTACH DATABASE ?1 AS rekeyed KEY ?2",
        [target, raw_key.as_str()],
    )?;
    drop(raw_key);
    let exported = conn
        .query_row("SELECT sqlcipher_export('rekeyed')", [], |_| Ok(()))
        .and_then(|()| conn.execute_batch(&format!("PRAGMA rekeyed.user_version = {version};")));
    let detached = conn.execute_batch("DETACH DATABASE rekeyed;");
    exported?;
    detached?;
    Ok(())
}

/// How long a first open waits for SQLCipher to finish setting itself up.
const SQLCIPHER_SETUP_WAIT: Duration = Duration::from_secs(2);

/// Return once SQLCipher can key a connection in this process.
///
/// SQLite marks itself initialised and releases its init mutex *before* it runs SQLCipher's
/// own set-up (`SQLITE_EXTRA_INIT`). A connection opened on another thread in that window
/// is refused a key with "An error occurred with PRAGMA key or rekey", so two stores opened
/// at once as a process starts could fail at random. Until SQLCipher has keyed a throwaway
/// in-memory connection, every open keys one first, retrying briefly.
fn wait_until_sqlcipher_is_ready() -> Result<()> {
    static READY: OnceLock<()> = OnceLock::new();
    if READY.get().is_some() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    loop {
        match key_a_memory_connection() {
            Ok(()) => {
                let _ = READY.set(());
                return Ok(());
            }
            Err(Error::Storage(_)) if started.elapsed() < SQLCIPHER_SETUP_WAIT => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(err) => return Err(err),
        }
    }
}

/// Key an in-memory connection with a fixed, non-secret key and read from it.
fn key_a_memory_connection() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    unlock(
        &conn,
        "x'0101010101010101010101010101010101010101010101010101010101010101'",
        MemorySecurity::Unchanged,
    )
}

/// Prove `raw_key` decrypts the file at `path` without writing a byte of it.
///
/// A normal connection is not enough: when a crash left a WAL behind, closing even a
/// connection whose key was refused checkpoints that WAL into the database (a raw page copy
/// that needs no key) and deletes it. So the key is first tried on a read-only, immutable
/// connection, which takes no locks and never touches the WAL or its index.
fn probe_key(path: &Path, raw_key: &str) -> Result<()> {
    let has_content = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
    if !has_content {
        return Ok(()); // Nothing there yet: any key starts a new store.
    }
    let uri = immutable_uri(path);
    let probe = Connection::open_with_flags(
        uri.as_str(),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    unlock(&probe, raw_key, MemorySecurity::Unchanged)
}

/// A `file:` URI that opens `path` read-only as immutable, with every byte outside the
/// unreserved set percent-encoded.
fn immutable_uri(path: &Path) -> String {
    use std::fmt::Write as _;
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            let _ = write!(uri, "%{byte:02X}");
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    uri
}

/// Give SQLCipher the raw key and prove it decrypts the file, without writing anything.
fn unlock(conn: &Connection, raw_key: &str, memory: MemorySecurity) -> Result<()> {
    let cipher: Option<String> = conn
        .query_row("PRAGMA cipher_version", [], |row| row.get(0))
        .optional()?;
    if cipher.is_none_or(|version| version.is_empty()) {
        return Err(Error::EncryptionUnavailable);
    }
    // A raw key (`x'<hex>'`) skips PBKDF2: the key already has full entropy.
    let mut statement = Zeroizing::new(String::with_capacity(raw_key.len() + 16));
    statement.push_str("PRAGMA key = \"");
    statement.push_str(raw_key);
    statement.push_str("\";");
    conn.execute_batch(&statement)?;
    // Pin SQLCipher 4's settings so a future library with new defaults still opens the file.
    conn.execute_batch("PRAGMA cipher_compatibility = 4;")?;
    // Wipe every buffer SQLCipher frees and lock its allocations out of swap, so decrypted
    // pages and key material do not linger in freed memory (a process-wide setting that
    // can only be turned on; set on every connection of a device's store so no path opens
    // one without it).
    if memory == MemorySecurity::On {
        conn.execute_batch("PRAGMA cipher_memory_security = ON;")?;
    }
    // The first read decrypts page 1; a wrong key fails here with SQLITE_NOTADB.
    conn.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))
        .map_err(|err| match err.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => Error::WrongKey,
            _ => Error::Storage(err),
        })?;
    Ok(())
}

/// Connection settings, applied once the key is known to be right.
fn configure(conn: &Connection) -> Result<()> {
    // No plaintext temporary files; freed pages are overwritten; a phone can lose power.
    conn.execute_batch(
        "PRAGMA temp_store = MEMORY;
         PRAGMA secure_delete = ON;
         PRAGMA foreign_keys = ON;
         PRAGMA synchronous = FULL;",
    )?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "store could not switch to WAL journaling");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_escape_everything_sqlite_would_parse() {
        let uri = immutable_uri(Path::new("/data/user 0/a%b?c#d&e=f/store.db"));
        assert_eq!(
            uri,
            "file:/data/user%200/a%25b%3Fc%23d%26e%3Df/store.db?mode=ro&immutable=1"
        );
    }

    #[test]
    fn memory_security_turned_on_by_a_store_holds_for_every_connection() -> Result<()> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("store.db");
        let key = || StoreKey::from_bytes(&[6; 32]);
        let writer = open(&path, key()?, MemorySecurity::On)?;
        writer.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")?;
        // A connection that leaves the setting alone still has it: it is process-wide.
        let reader = open_reader(&path, &key()?, MemorySecurity::Unchanged)?;
        for conn in [&writer, &reader] {
            let on: String = conn.query_row("PRAGMA cipher_memory_security", [], |r| r.get(0))?;
            assert_eq!(on, "1", "cipher_memory_security reads back ON");
        }
        Ok(())
    }

    #[test]
    fn an_odd_path_still_opens_and_probes() -> Result<()> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("odd %3F? name#.db");
        let key = || StoreKey::from_bytes(&[3; 32]);
        drop(open(&path, key()?, MemorySecurity::On)?);
        assert!(path.exists());
        probe_key(&path, &key()?.sqlcipher_raw_key())?;
        let wrong = StoreKey::from_bytes(&[4; 32])?.sqlcipher_raw_key();
        assert!(matches!(probe_key(&path, &wrong), Err(Error::WrongKey)));
        Ok(())
    }

    #[test]
    fn an_export_opens_only_under_its_new_key_with_rows_and_user_version() -> Result<()> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("store.db");
        let to = dir.path().join("rekeyed.db");
        let old = || StoreKey::from_bytes(&[7; 32]);
        let new = || StoreKey::from_bytes(&[8; 32]);
        let conn = open(&path, old()?, MemorySecurity::Unchanged)?;
        conn.execute_batch(
            "CREATE TABLE t (x); INSERT INTO t VALUES ('kept'); PRAGMA user_version = 11;",
        )?;
        export(&conn, &to, &new()?)?;
        assert!(
            export(&conn, &to, &new()?).is_err(),
            "an existing file is not overwritten"
        );
        let copy = open(&to, new()?, MemorySecurity::Unchanged)?;
        let x: String = copy.query_row("SELECT x FROM t", [], |r| r.get(0))?;
        let version: i64 = copy.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!((x.as_str(), version), ("kept", 11));
        drop(copy);
        assert!(matches!(
            open(&to, old()?, MemorySecurity::Unchanged),
            Err(Error::WrongKey)
        ));
        Ok(())
    }
}

//! The database handle, on either engine: SQLite (the embedded default: one writer connection
//! and a small pool of readers, WAL mode) or PostgreSQL ([`postgres`]), with every blocking
//! call moved off the async runtime by `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::Semaphore;

pub mod docs;
pub mod epoch;
mod key_file;
pub mod postgres;
mod postgres_tls;
pub mod rotate;
pub mod sealed_columns;
pub mod to_postgres;

pub(crate) use key_file::create_secret_file;
pub use key_file::{
    DEFAULT_KEY_FILE, KeyOrigin, load_or_create as load_or_create_key, read as read_key,
};

use casebook_core::store::{StoreKey, open_encrypted, open_encrypted_reader};

use crate::error::{Error, Result};
use crate::schema;
use crate::sql::{Conn, OptionalExtension, Tx};

/// How many read connections may be open at once.
const READERS: usize = 8;

/// A cheaply clonable handle to the server database.
#[derive(Clone, Debug)]
pub struct Db {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The directory whose free space `/readyz` checks.
    local_dir: PathBuf,
    reader_permits: Semaphore,
    engine: EngineDb,
}

#[derive(Debug)]
enum EngineDb {
    Sqlite(SqliteDb),
    Postgres(postgres::PgDb),
}

#[derive(Debug)]
struct SqliteDb {
    path: PathBuf,
    key: StoreKey,
    writer: Mutex<Connection>,
    idle_readers: Mutex<Vec<Connection>>,
}

/// Lock a mutex even if a panicking thread poisoned it: the guarded connection is still
/// consistent, because an unfinished transaction rolls back when it is dropped.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Db {
    /// Open (creating and migrating if needed) the database at `path`, encrypted with SQLCipher
    /// under `key`. A wrong key (or a database written unencrypted) is refused and the files
    /// are left untouched.
    pub fn open(path: &Path, key: StoreKey) -> Result<Self> {
        quiet_sqlcipher();
        let mut writer = open_encrypted(path, key.clone()).map_err(|e| match e {
            casebook_core::Error::WrongKey => Error::Config(format!(
                "the database key does not open {} (wrong key file, or a database created \
                 unencrypted)",
                path.display()
            )),
            casebook_core::Error::Storage(e) => Error::Db(e),
            other => Error::Config(other.to_string()),
        })?;
        schema::configure(&writer)?;
        schema::migrate(&mut writer)?;
        {
            let tx = writer.transaction_with_behavior(TransactionBehavior::Immediate)?;
            epoch::ensure(&Tx::sqlite(&tx))?;
            tx.commit()?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                local_dir: path
                    .parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_owned),
                reader_permits: Semaphore::new(READERS),
                engine: EngineDb::Sqlite(SqliteDb {
                    path: path.to_owned(),
                    key,
                    writer: Mutex::new(writer),
                    idle_readers: Mutex::new(Vec::new()),
                }),
            }),
        })
    }

    /// Open (migrating if needed) the PostgreSQL database at `url`; `local_dir` is the data
    /// directory (its free space is still checked by `/readyz`).
    pub fn open_postgres(url: &str, local_dir: &Path, key: &StoreKey) -> Result<Self> {
        Self::open_postgres_with(url, local_dir, key, &[])
    }

    /// [`Db::open_postgres`] also opening values sealed under the `older` keys, and accepting a
    /// database sealed under one of them (`rotate-key`).
    pub fn open_postgres_with(
        url: &str,
        local_dir: &Path,
        key: &StoreKey,
        older: &[StoreKey],
    ) -> Result<Self> {
        let db = postgres::PgDb::open_with(url, key, older)?;
        Ok(Self {
            inner: Arc::new(Inner {
                local_dir: local_dir.to_owned(),
                reader_permits: Semaphore::new(READERS),
                engine: EngineDb::Postgres(db),
            }),
        })
    }

    /// The engine this database runs on.
    pub fn engine(&self) -> crate::sql::Engine {
        match &self.inner.engine {
            EngineDb::Sqlite(_) => crate::sql::Engine::Sqlite,
            EngineDb::Postgres(_) => crate::sql::Engine::Postgres,
        }
    }

    /// On PostgreSQL, the id of the key its rows are recorded as sealed under and the id of the
    /// key this handle seals under; `None` on SQLite.
    pub fn sealing_key_ids(&self) -> Result<Option<(Option<String>, String)>> {
        match &self.inner.engine {
            EngineDb::Sqlite(_) => Ok(None),
            EngineDb::Postgres(db) => db.sealing_key_ids().map(Some),
        }
    }

    /// The SQLite database file; `None` on PostgreSQL.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.inner.engine {
            EngineDb::Sqlite(db) => Some(&db.path),
            EngineDb::Postgres(_) => None,
        }
    }

    /// The database file, for the SQLite-only tools and tests (backup, leak scans).
    ///
    /// # Panics
    /// On PostgreSQL, which has no file.
    pub fn path(&self) -> &Path {
        self.sqlite_path()
            .expect("a PostgreSQL database has no file")
    }

    /// Statements this process has sent to PostgreSQL (`None` on SQLite, which runs in
    /// process and has no round trips to count).
    pub fn postgres_statements(&self) -> Option<u64> {
        match &self.inner.engine {
            EngineDb::Sqlite(_) => None,
            EngineDb::Postgres(db) => Some(db.statements_sent()),
        }
    }

    /// The directory whose free space `/readyz` checks (the data directory).
    pub fn local_dir(&self) -> &Path {
        &self.inner.local_dir
    }

    /// The size of the database in bytes (SQLite's file and WAL, or PostgreSQL's
    /// `pg_database_size`).
    pub fn size_bytes_blocking(&self) -> Result<u64> {
        match &self.inner.engine {
            EngineDb::Sqlite(db) => {
                let mut total = 0;
                for suffix in ["", "-wal"] {
                    let mut name = db.path.as_os_str().to_owned();
                    name.push(suffix);
                    total += std::fs::metadata(PathBuf::from(name)).map_or(0, |m| m.len());
                }
                Ok(total)
            }
            EngineDb::Postgres(db) => db.size_bytes(),
        }
    }

    /// Run `f` on a read connection, inside one read transaction (a consistent snapshot).
    pub fn read_blocking<T>(&self, f: impl FnOnce(Conn<'_>) -> Result<T>) -> Result<T> {
        match &self.inner.engine {
            EngineDb::Sqlite(db) => db.read_blocking(f),
            EngineDb::Postgres(db) => db.read_blocking(f),
        }
    }

    /// Run `f` in one write transaction, committed if `f` succeeds, rolled back otherwise.
    /// Writes are serialised: by SQLite's one writer, or on PostgreSQL by a transaction-level
    /// advisory lock every instance takes (`docs/postgres.md`, "One writer at a time").
    pub fn write_blocking<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        match &self.inner.engine {
            EngineDb::Sqlite(db) => db.write_blocking(f),
            EngineDb::Postgres(db) => db.write_blocking(f),
        }
    }

    /// Prove the database takes a write now (for `/readyz`): wait at most `busy` for the
    /// write lock, record `now` under `meta.ready_probe_at` and commit.
    pub fn probe_write_blocking(&self, busy: std::time::Duration, now: i64) -> Result<()> {
        match &self.inner.engine {
            EngineDb::Sqlite(db) => db.probe_write_blocking(busy, now),
            EngineDb::Postgres(db) => db.probe_write_blocking(busy, now),
        }
    }
    /// Run `f`, which issues exactly one statement, on a read connection without opening a
    /// transaction: one statement is atomic and sees one snapshot by itself, so the BEGIN and
    /// COMMIT of [`Db::read`] would only add two round trips on PostgreSQL. (Two statements
    /// here would each see a different snapshot: use [`Db::read`] for those.)
    pub async fn read_single<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Conn<'_>) -> Result<T> + Send + 'static,
    {
        self.on_reader(move |db| match &db.inner.engine {
            EngineDb::Sqlite(db) => db.read_single_blocking(f),
            EngineDb::Postgres(db) => db.read_single_blocking(f),
        })
        .await
    }

    /// [`Db::read_blocking`] on the blocking thread pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Conn<'_>) -> Result<T> + Send + 'static,
    {
        self.on_reader(move |db| db.read_blocking(f)).await
    }

    /// Run `work` on the blocking thread pool once one of the reader permits is free.
    async fn on_reader<T, W>(&self, work: W) -> Result<T>
    where
        T: Send + 'static,
        W: FnOnce(&Db) -> Result<T> + Send + 'static,
    {
        let _permit = self
            .inner
            .reader_permits
            .acquire()
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        let db = self.clone();
        tokio::task::spawn_blocking(move || crate::sql::postgres::on_blocking_thread(|| work(&db)))
            .await?
    }

    /// [`Db::write_blocking`] on the blocking thread pool.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            crate::sql::postgres::on_blocking_thread(|| db.write_blocking(f))
        })
        .await?
    }

    /// Take one sync request from `device`'s token bucket in the database, shared by every
    /// instance (PostgreSQL: [`postgres::PgDb::take_sync_token`]): whether it was taken and the
    /// tokens left. `None` on SQLite, whose single process keeps its buckets in memory.
    pub async fn take_shared_sync_token(
        &self,
        device: String,
        now: i64,
        burst: f64,
        per_sec: f64,
    ) -> Result<Option<(bool, f64)>> {
        if matches!(self.inner.engine, EngineDb::Sqlite(_)) {
            return Ok(None);
        }
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            crate::sql::postgres::on_blocking_thread(|| match &db.inner.engine {
                EngineDb::Postgres(pg) => {
                    pg.take_sync_token(&device, now, burst, per_sec).map(Some)
                }
                EngineDb::Sqlite(_) => Ok(None),
            })
        })
        .await?
    }

    /// Checkpoint the WAL and drop idle readers; call once every request has finished.
    /// Fold the WAL into the database file and truncate it (after a delete that must leave
    /// no copy behind: the freed cells in the file are zeroed by `secure_delete`).
    /// On PostgreSQL (no WAL file of the server's own, and deleted rows are vacuumed by the
    /// database) this does nothing.
    pub async fn checkpoint(&self) -> Result<()> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let EngineDb::Sqlite(db) = &db.inner.engine else {
                return Ok(());
            };
            let conn = lock(&db.writer);
            let busy: i64 =
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
            if busy != 0 {
                tracing::warn!("database checkpoint could not complete (readers busy)");
            }
            Ok(())
        })
        .await?
    }

    /// Close idle connections (and on SQLite, fold the WAL into the file).
    pub fn close_blocking(&self) -> Result<()> {
        let db = match &self.inner.engine {
            EngineDb::Sqlite(db) => db,
            // PostgreSQL needs no checkpoint; the pool stays open for the last audit anchor
            // written at shutdown, and closes when the last handle is dropped.
            EngineDb::Postgres(_) => return Ok(()),
        };
        lock(&db.idle_readers).clear();
        let conn = lock(&db.writer);
        conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
        Ok(())
    }
}

impl SqliteDb {
    fn open_reader(&self) -> Result<Connection> {
        let conn = open_encrypted_reader(&self.path, &self.key).map_err(|e| match e {
            casebook_core::Error::Storage(e) => Error::Db(e),
            other => Error::Config(other.to_string()),
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(conn)
    }

    fn read_blocking<T>(&self, f: impl FnOnce(Conn<'_>) -> Result<T>) -> Result<T> {
        let conn = lock(&self.idle_readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => self.open_reader()?,
        };
        conn.execute_batch("BEGIN DEFERRED")?;
        let out = f(Conn::sqlite(&conn));
        let end = conn.execute_batch("COMMIT");
        if end.is_ok() {
            lock(&self.idle_readers).push(conn);
        }
        let out = out?;
        end?;
        Ok(out)
    }

    /// [`Db::read_single`]: `f` on an idle reader in autocommit mode.
    fn read_single_blocking<T>(&self, f: impl FnOnce(Conn<'_>) -> Result<T>) -> Result<T> {
        let conn = lock(&self.idle_readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => self.open_reader()?,
        };
        let out = f(Conn::sqlite(&conn));
        if conn.is_autocommit() {
            lock(&self.idle_readers).push(conn);
        }
        out
    }

    fn write_blocking<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&Tx::sqlite(&tx))?;
        tx.commit()?;
        Ok(out)
    }

    /// A fresh connection (not the writer, which a long request may hold) waits at most
    /// `busy` for the write lock (`BEGIN IMMEDIATE`).
    fn probe_write_blocking(&self, busy: std::time::Duration, now: i64) -> Result<()> {
        let conn = casebook_core::store::open_encrypted(&self.path, self.key.clone()).map_err(
            |e| match e {
                casebook_core::Error::Storage(e) => Error::Db(e),
                other => Error::Config(other.to_string()),
            },
        )?;
        conn.busy_timeout(busy)?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let wrote = conn.execute(
            "INSERT INTO meta (key, value) VALUES ('ready_probe_at', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [now.to_string()],
        );
        match wrote {
            Ok(_) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e.into());
            }
        }
        Ok(())
    }
}

/// Turn off SQLCipher's own log (process-wide), which writes several lines to stderr for a
/// refused key or a damaged page: the server reports those itself, in one line an operator
/// can read, and its log holds nothing it did not choose to write.
pub(crate) fn quiet_sqlcipher() {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let quieted = Connection::open_in_memory()
            .and_then(|c| c.execute_batch("PRAGMA cipher_log_level = NONE;"));
        if let Err(e) = quieted {
            tracing::debug!(error = %e, "SQLCipher's log level could not be set");
        }
    });
}

/// The current global sequence (the newest stored change).
pub fn current_seq(conn: Conn<'_>) -> Result<u64> {
    let v: String = conn.query_row("SELECT value FROM meta WHERE key = 'seq'", [], |r| r.get(0))?;
    v.parse()
        .map_err(|_| Error::Corrupt("sequence counter".into()))
}

/// Bump the global sequence and return the new value.
pub fn next_seq(tx: &Tx<'_>) -> Result<u64> {
    let next = current_seq(**tx)? + 1;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'seq'",
        [next.to_string()],
    )?;
    Ok(next)
}

/// A value from the `meta` table.
pub fn meta_get(conn: Conn<'_>, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

/// Set a value in the `meta` table.
pub fn meta_set(tx: &Tx<'_>, key: &str, value: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_key() -> StoreKey {
        StoreKey::from_bytes(&[3u8; 32]).expect("key")
    }

    #[tokio::test]
    async fn readers_see_committed_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("db.sqlite"), test_key()).expect("open");
        assert_eq!(db.read(current_seq).await.expect("read"), 0);
        let n = db.write(next_seq).await.expect("write");
        assert_eq!(n, 1);
        assert_eq!(db.read(current_seq).await.expect("read"), 1);
        let failed: Result<()> = db
            .write(|tx| {
                next_seq(tx)?;
                Err(Error::Conflict("roll back"))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(db.read(current_seq).await.expect("read"), 1);
    }

    /// SQLCipher's memory security `mlock`s every allocation, and each `mlock` takes the
    /// process's memory-map lock: at 200 syncs a second it made the median sync 2.6 s
    /// instead of 2.8 ms. The server's connections must not turn it on (a device's store
    /// does; no store is opened in this test binary).
    #[tokio::test]
    async fn the_servers_connections_leave_sqlciphers_memory_locking_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("db.sqlite"), test_key()).expect("open");
        fn pragma(conn: Conn<'_>) -> Result<String> {
            Ok(conn.query_row("PRAGMA cipher_memory_security", [], |r| r.get(0))?)
        }
        assert_eq!(db.read(pragma).await.expect("reader"), "0");
        assert_eq!(db.write(|tx| pragma(**tx)).await.expect("writer"), "0");
    }
}

//! The database on PostgreSQL: a deadpool pool of tokio-postgres connections driven by a
//! small runtime of the database's own, so the server's blocking database code (run on
//! `spawn_blocking`, as SQLite's is) can wait on them. Writes take a transaction-level advisory
//! lock first, so every instance on one database writes one transaction at a time, as SQLite's
//! single writer does: the sequence and the audit chain stay linear (`docs/postgres.md`).
//! Reads run in a `REPEATABLE READ READ ONLY` transaction: one consistent snapshot.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::error::{Error, Result};
use crate::sql::postgres::PgConn;
use crate::sql::{Conn, Tx};

/// Connections in one server's pool.
const POOL_SIZE: usize = 16;
/// How long a request waits for a pooled connection before it fails.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// The advisory lock every write transaction takes (an arbitrary constant: "casebook").
pub const WRITE_LOCK: i64 = 0x6361_7365_626f_6f6b;

/// The PostgreSQL schema's migrations, in order; each brings the schema from version `i` to
/// `i + 1`. Version 1 is the whole of SQLite's schema at its version 11; version 2 adds the
/// sync rate limit's buckets, which SQLite keeps in memory.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/001_schema.sql"),
    include_str!("../migrations/postgres/002_sync_buckets.sql"),
];

/// The PostgreSQL schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A PostgreSQL database.
pub struct PgDb {
    pool: Pool,
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    /// Seals document bodies and the other content columns before they are written.
    sealer: crate::sealing::Sealer,
    /// Host and database name, for messages (never the password).
    target: String,
    /// Statements sent to PostgreSQL by this handle (`BEGIN` and `COMMIT` included).
    statements: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDb")
            .field("target", &self.target)
            .finish()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        self.pool.close();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl PgDb {
    /// Connect to `url` (`postgres://user:password@host:port/db?sslmode=...`), check the
    /// connection works and bring the schema up to [`SCHEMA_VERSION`]. A schema newer than
    /// this build's is refused.
    pub fn open(url: &str, key: &casebook_core::store::StoreKey) -> Result<Self> {
        Self::open_with(url, key, &[])
    }

    /// [`PgDb::open`] sealing under `key` and opening values sealed under `older` keys too; a
    /// database whose rows are sealed under one of `older` is accepted (`rotate-key`, midway).
    pub fn open_with(
        url: &str,
        key: &casebook_core::store::StoreKey,
        older: &[casebook_core::store::StoreKey],
    ) -> Result<Self> {
        let (config, tls) = super::postgres_tls::parse(url)?;
        let target = format!(
            "{}/{}",
            config
                .get_hosts()
                .first()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(h) => h.clone(),
                    #[cfg(unix)]
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .unwrap_or_default(),
            config.get_dbname().unwrap_or("")
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("casebook-postgres")
            .enable_all()
            .build()?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls {
            Some(tls) => Manager::from_config(config, tls, manager_config),
            None => Manager::from_config(config, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Config(format!("PostgreSQL pool: {e}")))?;
        let handle = rt.handle().clone();
        let db = Self {
            pool,
            rt: Some(rt),
            handle,
            sealer: crate::sealing::Sealer::new(key, older),
            target,
            statements: std::sync::atomic::AtomicU64::new(0),
        };
        db.migrate()?;
        Ok(db)
    }

    /// Statements sent to PostgreSQL by this handle so far, `BEGIN` and `COMMIT` included
    /// (a `BEGIN` shares its first statement's round trip: [`PgConn::begin_with_next`]).
    pub fn statements_sent(&self) -> u64 {
        self.statements.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn client(&self) -> Result<Object> {
        crate::sql::postgres::block_on(&self.handle, self.pool.get()).map_err(|e| {
            Error::Sql(crate::sql::Error::Unavailable(format!(
                "no connection to {}: {e}",
                self.target
            )))
        })
    }

    fn migrate(&self) -> Result<()> {
        self.write_blocking(|tx| {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS casebook_schema (version BIGINT NOT NULL)",
            )?;
            let version: Option<i64> = crate::sql::OptionalExtension::optional(tx.query_row(
                "SELECT version FROM casebook_schema",
                [],
                |r| r.get(0),
            ))?;
            let version = match version {
                Some(v) => v,
                None => {
                    tx.execute("INSERT INTO casebook_schema (version) VALUES (0)", [])?;
                    0
                }
            };
            if version > SCHEMA_VERSION {
                return Err(Error::Config(format!(
                    "the PostgreSQL database is at schema version {version}, newer than this \
                     casebook-server's {SCHEMA_VERSION}: run the newer server"
                )));
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.execute_batch(sql)?;
                tx.execute("UPDATE casebook_schema SET version = ?1", [i as i64 + 1])?;
            }
            super::epoch::ensure(tx)?;
            // The key file must be the one this database was sealed under: a wrong one would
            // seal new rows under a key no later start can pair with the old ones.
            let key_id = self.sealer.current_key_id();
            let older = self.sealer.older_key_ids();
            match super::meta_get(**tx, "sealing_key_id")? {
                Some(stored) if stored != key_id && !older.contains(&stored) => {
                    Err(Error::Config(format!(
                        "the database key file does not match {}: its rows are sealed under key \
                     {stored}, the key file's is {key_id}",
                        self.target
                    )))
                }
                Some(_) => Ok(()),
                None => super::meta_set(tx, "sealing_key_id", &key_id),
            }
        })
    }

    /// Run `f` in one read-only snapshot.
    pub fn read_blocking<T>(&self, f: impl FnOnce(Conn<'_>) -> Result<T>) -> Result<T> {
        self.in_transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", |conn| {
            f(Conn::new(conn))
        })
    }

    /// Run `f` in a transaction opened by `begin` on a pooled connection, committed if `f`
    /// succeeds and rolled back otherwise. A connection whose transaction could not be ended
    /// is taken out of the pool, not handed to the next request still inside it.
    fn in_transaction<T>(
        &self,
        begin: &'static str,
        f: impl FnOnce(&PgConn<'_>) -> Result<T>,
    ) -> Result<T> {
        let client = self.client()?;
        let conn = PgConn::new(&client, &self.handle, &self.sealer).counting(&self.statements);
        let out = {
            let mut open = Open::begin(&conn, begin);
            let out = f(&conn);
            open.finish(out.is_ok()).and(out)
        };
        if conn.unusable() {
            // Closed with the client here rather than recycled into the pool.
            drop(Object::take(client));
        }
        out
    }

    /// [`super::Db::read_single`]: `f`'s one statement in autocommit mode (its own snapshot).
    pub fn read_single_blocking<T>(&self, f: impl FnOnce(Conn<'_>) -> Result<T>) -> Result<T> {
        let client = self.client()?;
        let conn = PgConn::new(&client, &self.handle, &self.sealer).counting(&self.statements);
        f(Conn::new(&conn))
    }

    /// Run `f` in one write transaction under the write lock; committed if `f` succeeds.
    pub fn write_blocking<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.write_with(None, f)
    }

    fn write_with<T>(
        &self,
        lock_timeout: Option<Duration>,
        f: impl FnOnce(&Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.in_transaction("BEGIN ISOLATION LEVEL READ COMMITTED", |conn| {
            let c = Conn::new(conn);
            if let Some(wait) = lock_timeout {
                c.execute_batch(&format!("SET LOCAL lock_timeout = {}", wait.as_millis()))?;
            }
            c.execute("SELECT pg_advisory_xact_lock(?1)", [WRITE_LOCK])?;
            f(&Tx::new(c))
        })
    }

    /// `/readyz`'s write: wait at most `busy` for the write lock, then write `meta`.
    pub fn probe_write_blocking(&self, busy: Duration, now: i64) -> Result<()> {
        self.write_with(Some(busy), |tx| {
            super::meta_set(tx, "ready_probe_at", &now.to_string())
        })
    }

    /// Take one sync request from `device`'s token bucket at `now` (Unix seconds), refilled at
    /// `per_sec` up to `burst`: one statement on its own (autocommit, outside the write lock;
    /// the row's lock orders two instances taking from one bucket at once). Returns whether a
    /// token was taken and the tokens left (after refilling, when refused).
    pub fn take_sync_token(
        &self,
        device: &str,
        now: i64,
        burst: f64,
        per_sec: f64,
    ) -> Result<(bool, f64)> {
        let client = self.client()?;
        let conn = PgConn::new(&client, &self.handle, &self.sealer).counting(&self.statements);
        let c = Conn::new(&conn);
        let (granted, tokens): (bool, f64) = c.query_row(
            "INSERT INTO sync_buckets AS b (device, tokens, at, granted)
                 VALUES (?1, ?2::float8 - 1, ?3::bigint, TRUE)
             ON CONFLICT (device) DO UPDATE SET
                 granted = LEAST(?2::float8, b.tokens + GREATEST(?3::bigint - b.at, 0) * ?4::float8) >= 1,
                 tokens = LEAST(?2::float8, b.tokens + GREATEST(?3::bigint - b.at, 0) * ?4::float8)
                          - CASE WHEN LEAST(?2::float8, b.tokens
                                            + GREATEST(?3::bigint - b.at, 0) * ?4::float8) >= 1
                                 THEN 1 ELSE 0 END,
                 at = GREATEST(?3::bigint, b.at)
             RETURNING granted, tokens",
            crate::params![device, burst, now, per_sec],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((granted, tokens))
    }

    /// The id of the key the rows are recorded as sealed under (`meta.sealing_key_id`) and the
    /// id of the key this handle seals under.
    pub fn sealing_key_ids(&self) -> Result<(Option<String>, String)> {
        let stored = self.read_blocking(|c| super::meta_get(c, "sealing_key_id"))?;
        Ok((stored, self.sealer.current_key_id()))
    }

    /// `pg_database_size` of the current database.
    pub fn size_bytes(&self) -> Result<u64> {
        let bytes: i64 = self.read_blocking(|c| {
            Ok(
                c.query_row("SELECT pg_database_size(current_database())", [], |r| {
                    r.get(0)
                })?,
            )
        })?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }
}

/// An open transaction, rolled back if it is dropped unfinished (a panic in the closure):
/// the connection goes back to the pool clean, or is closed if it cannot be made so.
struct Open<'a, 'c> {
    conn: &'a PgConn<'c>,
    done: bool,
}

impl<'a, 'c> Open<'a, 'c> {
    /// Open a transaction: `begin` goes out with its first statement
    /// ([`PgConn::begin_with_next`]), saving a round trip.
    fn begin(conn: &'a PgConn<'c>, begin: &'static str) -> Self {
        conn.begin_with_next(begin);
        Self { conn, done: false }
    }

    fn finish(&mut self, commit: bool) -> Result<()> {
        self.done = true;
        if self.conn.begin_pending() {
            // No statement ran, so no transaction was opened: nothing to end.
            return Ok(());
        }
        let end = if commit { "COMMIT" } else { "ROLLBACK" };
        crate::sql::Backend::execute_batch(self.conn, end).inspect_err(|_| {
            self.conn.mark_unusable();
        })?;
        Ok(())
    }
}

impl Drop for Open<'_, '_> {
    fn drop(&mut self) {
        if !self.done
            && !self.conn.begin_pending()
            && let Err(e) = crate::sql::Backend::execute_batch(self.conn, "ROLLBACK")
        {
            self.conn.mark_unusable();
            tracing::warn!(error = %e, "could not roll back an unfinished transaction");
        }
    }
}

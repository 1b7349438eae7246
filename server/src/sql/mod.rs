//! The server's engine-neutral SQL layer: one connection type ([`Conn`], and [`Tx`] for a
//! write transaction) that runs the same statements on SQLite (the embedded default) and,
//! through its own backend, on PostgreSQL.
//!
//! The shape follows rusqlite's, so code reads as before: `conn.execute(sql, params)`,
//! `conn.query_row(sql, params, |r| r.get(0))`, `conn.prepare(sql)?.query_map(params, f)`,
//! `.optional()`. Statements are written once, in the dialect both engines share
//! (`?1`-style placeholders, `ON CONFLICT ... DO UPDATE`, `INSERT OR IGNORE`); a backend
//! rewrites what its engine spells differently. Rows come back as [`Value`]s, so a
//! backend only has to say how its column types map onto them.

mod dialect;
pub mod postgres;
mod sqlite;
mod value;

pub use value::{FromValue, Params, ToValue, Value};

#[cfg(test)]
pub(crate) use sqlite::TestDb;

use std::sync::Arc;

/// Which database engine a connection talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// SQLite through rusqlite, encrypted with SQLCipher.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A failure of the SQL layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// SQLite refused or failed.
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL (or its pool) refused or failed; the engine's own message.
    #[error("postgres: {0}")]
    Postgres(String),
    /// PostgreSQL could not be reached or dropped the connection (down, restarting, failing
    /// over, out of connections): nothing of the statement's transaction was kept, and the
    /// same request may succeed a moment later.
    #[error("postgres unavailable: {0}")]
    Unavailable(String),
    /// A statement expected a row and there was none.
    #[error("query returned no rows")]
    NoRows,
    /// A column could not be read as the type asked for.
    #[error("column conversion: {0}")]
    Conversion(String),
    /// A column was named that the row does not have.
    #[error("no column {0}")]
    NoColumn(String),
    /// A sealed column did not open (altered, moved from another row, or sealed under a key
    /// this server does not hold).
    #[error("sealed {row}: {source}")]
    Sealed {
        /// The row the value was read for.
        row: String,
        /// Why it did not open.
        source: crate::sealing::OpenError,
    },
}

impl Error {
    /// Whether the disk under the database is full (SQLite's `SQLITE_FULL`, PostgreSQL's
    /// `disk_full`).
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Sqlite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            Error::Postgres(m) => m.contains("53100") || m.contains("could not extend file"),
            _ => false,
        }
    }

    /// Whether the database could not be reached (PostgreSQL down, restarting or failing
    /// over): worth the same request again shortly.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }

    /// A short name for the kind of failure (an engine's error code), never its message:
    /// safe to show on `/readyz`.
    pub fn kind_name(&self) -> String {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => {
                format!("{:?}", failure.code)
            }
            Error::Sqlite(_) => "database error".into(),
            Error::Postgres(_) => "postgres error".into(),
            Error::Unavailable(_) => "postgres unavailable".into(),
            Error::NoRows => "no rows".into(),
            Error::Conversion(_) | Error::NoColumn(_) => "column conversion".into(),
            Error::Sealed { .. } => "sealed value did not open".into(),
        }
    }
}

/// Result of the SQL layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an engine implements: run one statement with its parameters, or a batch of
/// statements without any. Implemented by rusqlite's connection and by the PostgreSQL
/// backend.
pub trait Backend {
    /// The engine behind this backend.
    fn engine(&self) -> Engine;
    /// Run a statement that returns no rows; the number of rows changed.
    fn execute(&self, sql: &str, params: Vec<Value>) -> Result<usize>;
    /// Run a statement and collect its rows.
    fn query(&self, sql: &str, params: Vec<Value>) -> Result<RowSet>;
    /// Run several statements, none with parameters (a migration, say).
    fn execute_batch(&self, sql: &str) -> Result<()>;
    /// The sealer of row contents, on an engine without its own encryption (PostgreSQL);
    /// `None` where the whole database is encrypted (SQLCipher).
    fn sealer(&self) -> Option<&crate::sealing::Sealer> {
        None
    }
}

/// The rows of one statement, with its column names.
#[derive(Debug, Default)]
pub struct RowSet {
    /// Column names, in order.
    pub columns: Arc<[String]>,
    /// The rows, each as many values as there are columns.
    pub rows: Vec<Vec<Value>>,
}

/// One row of a [`RowSet`].
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

/// A column of a row: by position (from 0) or by name.
pub trait RowIndex {
    /// The position of this column in `columns`.
    fn position(&self, columns: &[String]) -> Result<usize>;
}

impl RowIndex for usize {
    fn position(&self, columns: &[String]) -> Result<usize> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(Error::NoColumn(self.to_string()))
        }
    }
}

impl RowIndex for &str {
    fn position(&self, columns: &[String]) -> Result<usize> {
        columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(self))
            .ok_or_else(|| Error::NoColumn((*self).to_owned()))
    }
}

impl<'a> Row<'a> {
    /// Column `idx` as a `T`.
    pub fn get<I: RowIndex, T: FromValue>(&self, idx: I) -> Result<T> {
        let at = idx.position(self.columns)?;
        T::from_value(&self.values[at]).map_err(|e| match e {
            Error::Conversion(why) => Error::Conversion(format!("column {at}: {why}")),
            other => other,
        })
    }

    /// Column `idx`'s raw value.
    pub fn get_value<I: RowIndex>(&self, idx: I) -> Result<&'a Value> {
        let at = idx.position(self.columns)?;
        Ok(&self.values[at])
    }

    /// How many columns the row has.
    pub fn column_count(&self) -> usize {
        self.columns.len()
    }
}

impl RowSet {
    fn row(&self, i: usize) -> Option<Row<'_>> {
        self.rows.get(i).map(|values| Row {
            columns: &self.columns,
            values,
        })
    }
}

/// A connection (or a read transaction) on either engine.
#[derive(Clone, Copy)]
pub struct Conn<'a> {
    backend: &'a dyn Backend,
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("engine", &self.backend.engine())
            .finish()
    }
}

impl<'a> Conn<'a> {
    /// A connection over any backend.
    pub fn new(backend: &'a dyn Backend) -> Self {
        Self { backend }
    }

    /// A connection over a rusqlite connection (or transaction, which derefs to one).
    pub fn sqlite(conn: &'a rusqlite::Connection) -> Self {
        Self { backend: conn }
    }

    /// The engine behind this connection.
    pub fn engine(&self) -> Engine {
        self.backend.engine()
    }

    /// `plain` as it is stored in the row named `row` (`"docs/<id>"`): sealed on an engine
    /// without its own encryption, as it is on SQLCipher.
    pub fn seal(&self, row: &str, plain: Vec<u8>) -> Vec<u8> {
        match self.backend.sealer() {
            Some(sealer) => sealer.seal(row, &plain, &mut rand::rngs::OsRng),
            None => plain,
        }
    }

    /// The plain contents of `stored`, read from the row named `row` (see [`Conn::seal`]).
    pub fn unseal(&self, row: &str, stored: Vec<u8>) -> Result<Vec<u8>> {
        match self.backend.sealer() {
            Some(sealer) => sealer.open(row, &stored).map_err(|source| Error::Sealed {
                row: row.to_owned(),
                source,
            }),
            None => Ok(stored),
        }
    }

    /// Whether this engine seals row contents ([`Conn::seal`] encrypts): PostgreSQL, not
    /// SQLCipher.
    pub fn seals(&self) -> bool {
        self.backend.sealer().is_some()
    }

    /// [`Conn::seal`] for text (stored as the sealed bytes on PostgreSQL, as text on SQLite).
    pub fn seal_text(&self, row: &str, plain: &str) -> Value {
        match self.backend.sealer() {
            Some(_) => Value::Blob(self.seal(row, plain.as_bytes().to_vec())),
            None => Value::Text(plain.to_owned()),
        }
    }

    /// The plain text of a column written by [`Conn::seal_text`].
    pub fn unseal_text(&self, row: &str, stored: Value) -> Result<String> {
        match stored {
            Value::Text(text) if self.backend.sealer().is_none() => Ok(text),
            Value::Blob(bytes) => String::from_utf8(self.unseal(row, bytes)?)
                .map_err(|_| Error::Conversion(format!("{row}: sealed text is not UTF-8"))),
            Value::Null => Ok(String::new()),
            _ => Err(Error::Conversion(format!("{row}: expected sealed text"))),
        }
    }

    /// Run a statement that returns no rows; the number of rows changed.
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.backend.execute(sql, params.into_values())
    }

    /// Run several statements without parameters.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        self.backend.execute_batch(sql)
    }

    /// The first row of a statement, mapped by `f`; [`Error::NoRows`] if there is none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let set = self.backend.query(sql, params.into_values())?;
        match set.row(0) {
            Some(row) => f(&row),
            None => Err(Error::NoRows),
        }
    }

    /// A statement to run (the backends cache their prepared statements themselves).
    pub fn prepare(&self, sql: &str) -> Result<Stmt<'a>> {
        Ok(Stmt {
            backend: self.backend,
            sql: sql.to_owned(),
        })
    }

    /// The same as [`Conn::prepare`], named as rusqlite names its cached form.
    pub fn prepare_cached(&self, sql: &str) -> Result<Stmt<'a>> {
        self.prepare(sql)
    }
}

/// A write transaction: a [`Conn`] that the caller may write through. The database handle
/// commits it when the closure given the `Tx` succeeds, and rolls it back otherwise.
///
/// Write functions take `&Tx`; read functions take a [`Conn`], which a write passes as
/// `**tx` (the `Conn` the transaction derefs to, copied).
#[derive(Clone, Copy, Debug)]
pub struct Tx<'a> {
    conn: Conn<'a>,
}

impl<'a> Tx<'a> {
    /// Mark a connection that is inside a write transaction as one.
    pub fn new(conn: Conn<'a>) -> Self {
        Self { conn }
    }

    /// Over a rusqlite transaction.
    pub fn sqlite(tx: &'a rusqlite::Transaction<'_>) -> Self {
        Self {
            conn: Conn::sqlite(tx),
        }
    }
}

impl<'a> std::ops::Deref for Tx<'a> {
    type Target = Conn<'a>;
    fn deref(&self) -> &Conn<'a> {
        &self.conn
    }
}

/// A statement, run once or many times with different parameters.
pub struct Stmt<'a> {
    backend: &'a dyn Backend,
    sql: String,
}

impl std::fmt::Debug for Stmt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stmt").field("sql", &self.sql).finish()
    }
}

impl Stmt<'_> {
    /// Run it, returning no rows; the number of rows changed.
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        self.backend.execute(&self.sql, params.into_values())
    }

    /// Run it and walk its rows with [`Rows::next`].
    pub fn query(&mut self, params: impl Params) -> Result<Rows> {
        Ok(Rows {
            set: self.backend.query(&self.sql, params.into_values())?,
            next: 0,
        })
    }

    /// Run it and map every row with `f`.
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let set = self.backend.query(&self.sql, params.into_values())?;
        let mapped: Vec<Result<T>> = (0..set.rows.len())
            .filter_map(|i| set.row(i))
            .map(|row| f(&row))
            .collect();
        Ok(mapped.into_iter())
    }

    /// The first row, mapped by `f`; [`Error::NoRows`] if there is none.
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let set = self.backend.query(&self.sql, params.into_values())?;
        match set.row(0) {
            Some(row) => f(&row),
            None => Err(Error::NoRows),
        }
    }

    /// Whether it returns at least one row.
    pub fn exists(&mut self, params: impl Params) -> Result<bool> {
        Ok(!self
            .backend
            .query(&self.sql, params.into_values())?
            .rows
            .is_empty())
    }
}

/// The rows of a statement, walked one at a time.
#[derive(Debug)]
pub struct Rows {
    set: RowSet,
    next: usize,
}

impl Rows {
    /// The next row, or `None` after the last.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        let row = self.set.row(self.next);
        if row.is_some() {
            self.next += 1;
        }
        Ok(row)
    }
}

/// `.optional()` on a single-row result: `Ok(None)` for no row, as in rusqlite.
pub trait OptionalExtension<T> {
    /// No row becomes `Ok(None)`; other errors stay errors.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(Error::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests;

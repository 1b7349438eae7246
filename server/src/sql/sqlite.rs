//! The SQLite backend of the SQL layer: rusqlite's connection, with cached prepared
//! statements and values converted to and from [`Value`].

use std::sync::Arc;

use rusqlite::types::{Value as SqliteValue, ValueRef};

use super::{Backend, Engine, Result, RowSet, Value};

fn to_sqlite(v: Value) -> SqliteValue {
    match v {
        Value::Null => SqliteValue::Null,
        Value::Integer(i) => SqliteValue::Integer(i),
        Value::Real(r) => SqliteValue::Real(r),
        Value::Text(s) => SqliteValue::Text(s),
        Value::Blob(b) => SqliteValue::Blob(b),
    }
}

fn from_sqlite(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

impl Backend for rusqlite::Connection {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn execute(&self, sql: &str, params: Vec<Value>) -> Result<usize> {
        let mut stmt = self.prepare_cached(sql)?;
        let params: Vec<SqliteValue> = params.into_iter().map(to_sqlite).collect();
        Ok(stmt.execute(rusqlite::params_from_iter(params))?)
    }

    fn query(&self, sql: &str, params: Vec<Value>) -> Result<RowSet> {
        let mut stmt = self.prepare_cached(sql)?;
        let columns: Arc<[String]> = stmt.column_names().map(str::to_owned).collect();
        let width = columns.len();
        let params: Vec<SqliteValue> = params.into_iter().map(to_sqlite).collect();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(from_sqlite(row.get_ref(i)?));
            }
            out.push(values);
        }
        Ok(RowSet { columns, rows: out })
    }

    fn execute_batch(&self, sql: &str) -> Result<()> {
        Ok(rusqlite::Connection::execute_batch(self, sql)?)
    }
}

/// An in-memory SQLite database with the server's schema, for unit tests: reads through
/// [`TestDb::conn`], writes in a committed transaction through [`TestDb::write`].
#[cfg(test)]
pub(crate) struct TestDb {
    conn: rusqlite::Connection,
}

#[cfg(test)]
impl TestDb {
    /// A new database, migrated to the current schema.
    pub(crate) fn migrated() -> Self {
        let mut conn = rusqlite::Connection::open_in_memory().expect("open in memory");
        crate::schema::migrate(&mut conn).expect("migrate");
        Self { conn }
    }

    /// A connection outside any transaction.
    pub(crate) fn conn(&self) -> super::Conn<'_> {
        super::Conn::sqlite(&self.conn)
    }

    /// Run `f` in one write transaction and commit it.
    pub(crate) fn write<T>(&mut self, f: impl FnOnce(&super::Tx<'_>) -> T) -> T {
        let tx = self.conn.transaction().expect("begin");
        let out = f(&super::Tx::sqlite(&tx));
        tx.commit().expect("commit");
        out
    }
}

//! `casebook-server migrate --from-sqlite DIR --to postgres://...`: a one-way copy of an
//! embedded SQLite deployment into an empty PostgreSQL database, in one PostgreSQL
//! transaction (all of it or nothing). Every row keeps its keys, sequence numbers and audit
//! hashes, so devices stay enrolled, their sessions and cursors stay valid and the audit chain
//! still verifies; the columns PostgreSQL holds sealed ([`crate::sql::Conn::seal`]) are sealed
//! on the way, under the same key file the SQLite database was encrypted with. The source is
//! read under its own write lock, so a server still running on it cannot acknowledge a write
//! the copy misses.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::sql::{Conn, Tx, Value};

use super::Db;

/// Rows read from SQLite per page.
const PAGE: i64 = 500;

/// SQLite's implicit `rowid`, an identity column on PostgreSQL, in these tables.
const ROWID_TABLES: &[&str] = &["users", "cases", "challenges"];

/// Identity columns whose sequences follow the copied rows.
const IDENTITIES: &[(&str, &str)] = &[
    ("users", "rowid"),
    ("cases", "rowid"),
    ("challenges", "rowid"),
    ("audit", "id"),
    ("notices", "id"),
];

/// How many rows of each table were copied.
pub type Copied = BTreeMap<String, u64>;

/// Copy every table of `sqlite` into `postgres` (which must hold no organisation, document
/// or audit row yet), calling `progress(table, rows so far)` as it goes.
pub fn copy(sqlite: &Db, postgres: &Db, mut progress: impl FnMut(&str, u64)) -> Result<Copied> {
    if sqlite.sqlite_path().is_none() || postgres.sqlite_path().is_some() {
        return Err(Error::Config(
            "migrate copies a SQLite database into PostgreSQL".into(),
        ));
    }
    // The source is read under its write lock: a server still running on it waits, so nothing
    // it acknowledges can be missed by the copy.
    sqlite.write_blocking(|source| {
        let src = **source;
        postgres.write_blocking(|dst| {
            for table in ["orgs", "docs", "audit", "devices"] {
                let n: i64 =
                    dst.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
                if n > 0 {
                    return Err(Error::Config(format!(
                        "the PostgreSQL database is not empty ({n} rows in {table}): migrate \
                         into a new database"
                    )));
                }
            }
            let mut copied = Copied::new();
            for table in tables_in_order(src)? {
                let n = copy_table(src, dst, &table, &mut progress)?;
                copied.insert(table, n);
            }
            // The source's head, copied with `meta`, gets the seal PostgreSQL keeps beside it.
            crate::audit::reseal_head(dst)?;
            for (table, column) in IDENTITIES {
                dst.query_row(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                                       COALESCE(MAX({column}), 0) + 1, false) FROM {table}"
                    ),
                    [],
                    |_| Ok(()),
                )?;
            }
            Ok(copied)
        })
    })
}

/// SQLite's tables, each after the tables its foreign keys name.
fn tables_in_order(src: Conn<'_>) -> Result<Vec<String>> {
    let names: Vec<String> = src
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<crate::sql::Result<_>>()?;
    let mut needs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in &names {
        let parents: BTreeSet<String> = src
            .prepare(&format!(
                "SELECT \"table\" FROM pragma_foreign_key_list('{name}')"
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<crate::sql::Result<_>>()?;
        identifier(name)?;
        needs.insert(
            name.clone(),
            parents.into_iter().filter(|p| p != name).collect(),
        );
    }
    let mut ordered = Vec::new();
    while !needs.is_empty() {
        let ready: Vec<String> = needs
            .iter()
            .filter(|(_, parents)| parents.iter().all(|p| !needs.contains_key(p)))
            .map(|(name, _)| name.clone())
            .collect();
        if ready.is_empty() {
            return Err(Error::Corrupt("foreign keys form a cycle".into()));
        }
        for name in ready {
            needs.remove(&name);
            ordered.push(name);
        }
    }
    Ok(ordered)
}

fn copy_table(
    src: Conn<'_>,
    dst: &Tx<'_>,
    table: &str,
    progress: &mut impl FnMut(&str, u64),
) -> Result<u64> {
    let mut columns: Vec<String> = src
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))?
        .query_map([], |r| r.get(0))?
        .collect::<crate::sql::Result<_>>()?;
    for column in &columns {
        identifier(column)?;
    }
    // Pages in primary-key order (rowid where there is none), so none is read twice or skipped.
    let key_columns: Vec<String> = src
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk"
        ))?
        .query_map([], |r| r.get(0))?
        .collect::<crate::sql::Result<_>>()?;
    let order = if key_columns.is_empty() {
        "rowid".to_owned()
    } else {
        key_columns.join(", ")
    };
    if ROWID_TABLES.contains(&table) {
        columns.insert(0, "rowid".to_owned());
    }
    let list = columns.join(", ");
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let mut insert = format!(
        "INSERT INTO {table} ({list}) VALUES ({})",
        placeholders.join(", ")
    );
    if table == "meta" {
        // The target wrote its own epoch and sequence when it was opened: the deployment's
        // win, so devices' cursors and epochs stay valid.
        insert.push_str(" ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    }
    let select = format!("SELECT {list} FROM {table} ORDER BY {order} LIMIT ?1 OFFSET ?2");
    let mut done: u64 = 0;
    loop {
        let rows = super::sealed_columns::read_page(src, &select, columns.len(), PAGE, done)?;
        if rows.is_empty() {
            break;
        }
        let mut stmt = dst.prepare_cached(&insert)?;
        for mut row in rows {
            seal_row(dst, table, &columns, &mut row)?;
            stmt.execute(row)?;
            done += 1;
        }
        progress(table, done);
    }
    Ok(done)
}

/// Seal the columns of `row` PostgreSQL keeps sealed, as the server writes them.
fn seal_row(dst: &Tx<'_>, table: &str, columns: &[String], row: &mut [Value]) -> Result<()> {
    let column = |name: &str| columns.iter().position(|c| c == name);
    let text = |v: &Value| match v {
        Value::Text(t) => Ok(t.clone()),
        Value::Integer(i) => Ok(i.to_string()),
        _ => Err(Error::Corrupt(format!("{table}: expected a text key"))),
    };
    let Some(sealed) = super::sealed_columns::of(table) else {
        return Ok(());
    };
    let keys = sealed
        .keys
        .iter()
        .map(|name| text(&row[key(column(name), table)?]))
        .collect::<Result<Vec<_>>>()?;
    let row_name = (sealed.row_name)(&keys);
    let sealed = sealed.column;
    let at = key(column(sealed), table)?;
    row[at] = match std::mem::replace(&mut row[at], Value::Null) {
        Value::Blob(bytes) => Value::Blob(dst.seal(&row_name, bytes)),
        Value::Text(plain) => dst.seal_text(&row_name, &plain),
        Value::Null => Value::Null,
        _ => return Err(Error::Corrupt(format!("{table}.{sealed}: unexpected type"))),
    };
    Ok(())
}

fn key(at: Option<usize>, table: &str) -> Result<usize> {
    at.ok_or_else(|| Error::Corrupt(format!("{table}: a column is missing")))
}

/// `name` if it is a plain lower-case SQL identifier (every table and column of Casebook's
/// schema is), so it can be written into a statement unquoted.
fn identifier(name: &str) -> Result<&str> {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Ok(name)
    } else {
        Err(Error::Corrupt(format!(
            "the SQLite database names a table or column {name:?} that Casebook's schema does not"
        )))
    }
}

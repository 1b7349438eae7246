//! The SQL layer's contract, run on SQLite here; the PostgreSQL backend runs the same
//! checks against a throwaway cluster.

use super::*;
use crate::params;

/// Every check of the layer's contract, on any backend whose schema is empty.
pub(crate) fn contract(conn: Conn<'_>) {
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, body BLOB, flag INTEGER);",
    )
    .expect("create");
    let n = conn
        .execute(
            "INSERT INTO t (id, name, body, flag) VALUES (?1, ?2, ?3, ?4)",
            params![1i64, "one", vec![1u8, 2, 3], true],
        )
        .expect("insert");
    assert_eq!(n, 1);
    conn.execute(
        "INSERT INTO t (id, name, body, flag) VALUES (?1, ?2, ?3, ?4)",
        (2i64, "two".to_owned(), None::<Vec<u8>>, false),
    )
    .expect("insert tuple");
    let (name, body, flag): (String, Vec<u8>, bool) = conn
        .query_row(
            "SELECT name, body, flag FROM t WHERE id = ?1",
            [1i64],
            |r| Ok((r.get(0)?, r.get("body")?, r.get(2)?)),
        )
        .expect("row");
    assert_eq!(
        (name.as_str(), body.as_slice(), flag),
        ("one", &[1u8, 2, 3][..], true)
    );
    let missing: Option<String> = conn
        .query_row("SELECT name FROM t WHERE id = ?1", [9i64], |r| r.get(0))
        .optional()
        .expect("optional");
    assert_eq!(missing, None);
    let none_body: Option<Vec<u8>> = conn
        .query_row("SELECT body FROM t WHERE id = 2", [], |r| r.get(0))
        .expect("null");
    assert_eq!(none_body, None);
    let names: Vec<String> = conn
        .prepare("SELECT name FROM t ORDER BY id")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("map")
        .collect::<Result<_>>()
        .expect("rows");
    assert_eq!(names, ["one", "two"]);
    let mut stmt = conn
        .prepare("SELECT id FROM t ORDER BY id DESC")
        .expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    let mut ids = Vec::new();
    while let Some(r) = rows.next().expect("next") {
        ids.push(r.get::<_, u64>(0).expect("id"));
    }
    assert_eq!(ids, [2, 1]);
    let wrong = conn.query_row("SELECT name FROM t WHERE id = 1", [], |r| {
        r.get::<_, i64>(0)
    });
    assert!(matches!(wrong, Err(Error::Conversion(_))), "{wrong:?}");
    let upsert = "INSERT INTO t (id, name) VALUES (?1, ?2)
                  ON CONFLICT(id) DO UPDATE SET name = excluded.name";
    conn.execute(upsert, params![1i64, "uno"]).expect("upsert");
    let renamed: String = conn
        .query_row("SELECT name FROM t WHERE id = 1", [], |r| r.get(0))
        .expect("renamed");
    assert_eq!(renamed, "uno");
    let ignored = conn
        .execute("INSERT OR IGNORE INTO t (id, name) VALUES (1, 'x')", [])
        .expect("or ignore");
    assert_eq!(ignored, 0);
}

#[test]
fn the_contract_holds_on_sqlite() {
    let conn = rusqlite::Connection::open_in_memory().expect("open");
    contract(Conn::sqlite(&conn));
}

#[test]
fn a_missing_row_is_no_rows_and_a_missing_column_is_named() {
    let conn = rusqlite::Connection::open_in_memory().expect("open");
    let c = Conn::sqlite(&conn);
    let none = c.query_row("SELECT 1 WHERE 0", [], |r| r.get::<_, i64>(0));
    assert!(matches!(none, Err(Error::NoRows)));
    let col = c.query_row("SELECT 1 AS a", [], |r| r.get::<_, i64>("b"));
    assert!(matches!(col, Err(Error::NoColumn(ref n)) if n == "b"));
}

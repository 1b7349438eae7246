//! The store's schema: SQL migrations in `migrations/NNN_*.sql`, applied in order and
//! versioned with `PRAGMA user_version`.

use rusqlite::{Connection, Transaction};

use crate::error::{Error, Result};

/// Every migration, in order; migration `i` (0-based) takes the schema to version `i + 1`.
/// Never edit a released migration: add a new one.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_indexes.sql"),
    include_str!("migrations/003_view.sql"),
    include_str!("migrations/004_attachments.sql"),
    include_str!("migrations/005_alerts.sql"),
    include_str!("migrations/006_alert_links.sql"),
    include_str!("migrations/007_snapshots.sql"),
];

/// The schema version this build writes.
pub(super) const VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema version recorded in the database (0 for a new one).
pub(super) fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_one(None, "user_version")?)
}

/// Bring the schema up to [`VERSION`].
///
/// # Errors
/// [`Error::SchemaTooNew`] if a newer build wrote the database.
pub(super) fn migrate(tx: &Transaction<'_>) -> Result<()> {
    migrate_to(tx, VERSION)
}

/// Apply the migrations that take the schema from its current version to `target`.
pub(super) fn migrate_to(tx: &Transaction<'_>, target: i64) -> Result<()> {
    let found = version(tx)?;
    if found > VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: VERSION,
        });
    }
    let from = usize::try_from(found).map_err(|_| Error::Malformed {
        doc: "store".into(),
        path: "user_version".into(),
        reason: "negative schema version".into(),
    })?;
    let to = usize::try_from(target.min(VERSION)).unwrap_or(0);
    if to <= from {
        return Ok(());
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().take(to).skip(from) {
        tracing::info!(version = index + 1, "migrating store schema");
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", target.min(VERSION))?;
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Every schema object's definition, in a fixed order.
    pub(in crate::store) fn schema_sql(conn: &Connection) -> Result<Vec<(String, String)>> {
        let mut stmt = conn.prepare(
            "SELECT name, ifnull(sql, '') FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn migrated(steps: &[i64]) -> Result<Connection> {
        let mut conn = Connection::open_in_memory()?;
        for &target in steps {
            let tx = conn.transaction()?;
            migrate_to(&tx, target)?;
            tx.commit()?;
        }
        Ok(conn)
    }

    #[test]
    fn every_upgrade_path_gives_the_fresh_schema() -> Result<()> {
        let fresh = migrated(&[VERSION])?;
        assert_eq!(version(&fresh)?, VERSION);
        let fresh_sql = schema_sql(&fresh)?;
        assert!(fresh_sql.iter().any(|(name, _)| name == "docs_dirty"));
        for start in 1..VERSION {
            let upgraded = migrated(&[start, VERSION])?;
            assert_eq!(version(&upgraded)?, VERSION);
            assert_eq!(schema_sql(&upgraded)?, fresh_sql, "upgrade from {start}");
        }
        Ok(())
    }

    /// A store written before snapshots had a table of their own keeps every snapshot, and the
    /// `docs` row no longer holds one (an appended chunk would rewrite it).
    #[test]
    fn snapshots_move_out_of_the_docs_row_intact() -> Result<()> {
        let before = i64::try_from(
            MIGRATIONS
                .iter()
                .position(|sql| sql.contains("CREATE TABLE doc_snapshots"))
                .expect("the snapshots migration"),
        )
        .expect("small");
        let mut conn = migrated(&[before])?;
        conn.execute(
            "INSERT INTO docs (doc_id, snapshot, last_chunk) VALUES ('a', x'0102', 3), ('b', NULL, 1)",
            [],
        )?;
        let tx = conn.transaction()?;
        migrate(&tx)?;
        tx.commit()?;
        let moved: Vec<(String, Vec<u8>)> = conn
            .prepare("SELECT doc_id, snapshot FROM doc_snapshots ORDER BY doc_id")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        assert_eq!(moved, vec![("a".to_owned(), vec![1, 2])]);
        let counters: Vec<(String, i64)> = conn
            .prepare("SELECT doc_id, last_chunk FROM docs ORDER BY doc_id")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        assert_eq!(counters, vec![("a".to_owned(), 3), ("b".to_owned(), 1)]);
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('docs')")?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        assert!(!columns.iter().any(|c| c == "snapshot"), "{columns:?}");
        Ok(())
    }

    #[test]
    fn migrating_twice_is_a_no_op() -> Result<()> {
        let conn = migrated(&[VERSION, VERSION])?;
        assert_eq!(version(&conn)?, VERSION);
        Ok(())
    }

    #[test]
    fn refuses_a_newer_schema() -> Result<()> {
        let mut conn = migrated(&[VERSION])?;
        conn.pragma_update(None, "user_version", VERSION + 1)?;
        let tx = conn.transaction()?;
        let err = migrate(&tx).expect_err("newer schema");
        assert!(
            matches!(err, Error::SchemaTooNew { found, supported } if found == VERSION + 1 && supported == VERSION),
            "{err:?}"
        );
        Ok(())
    }
}

//! The server's SQLite schema and its migrations, applied in order by `PRAGMA user_version`.

use rusqlite::Connection;

use crate::error::Result;

/// Migrations, in order; `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_rate_limits.sql"),
    include_str!("migrations/003_enrolment_control.sql"),
    include_str!("migrations/004_challenge_address.sql"),
    include_str!("migrations/005_attachments.sql"),
    include_str!("migrations/006_alerts.sql"),
    include_str!("migrations/007_interpreter_links.sql"),
    include_str!("migrations/008_review_index.sql"),
    include_str!("migrations/009_report_facts.sql"),
    include_str!("migrations/010_doc_conflicts.sql"),
    include_str!("migrations/011_deadline_index.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Connection settings every connection gets: WAL, foreign keys, a busy timeout.
pub fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

/// Bring the schema up to [`SCHEMA_VERSION`], each step in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("migrate");
        migrate(&mut conn).expect("migrate again");
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(v, SCHEMA_VERSION);
    }

    fn schema_of(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    #[test]
    fn a_version_1_database_upgrades_to_the_fresh_schema_keeping_its_rows() {
        let mut old = Connection::open_in_memory().expect("open");
        old.execute_batch(MIGRATIONS[0]).expect("v1");
        old.pragma_update(None, "user_version", 1).expect("version");
        old.execute(
            "INSERT INTO challenges (challenge, device_id, expires_at) VALUES (x'01', 'd', 5)",
            [],
        )
        .expect("row");
        migrate(&mut old).expect("upgrade");
        let mut fresh = Connection::open_in_memory().expect("open");
        migrate(&mut fresh).expect("migrate");
        assert_eq!(schema_of(&old), schema_of(&fresh));
        let kept: i64 = old
            .query_row("SELECT COUNT(*) FROM challenges", [], |r| r.get(0))
            .expect("count");
        assert_eq!(kept, 1);
    }
}

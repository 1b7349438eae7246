//! The append-only, hash-chained audit log: who enrolled, authenticated, read, wrote, was
//! refused, revoked or purged what. Identifiers and counts only, never case content.
//!
//! Each row's `hash` is SHA-256 over the previous row's hash and a canonical encoding of the
//! row's own fields, so changing or deleting any row breaks the chain at that row. The chain
//! alone cannot see a rewrite by someone holding the database key (they recompute the
//! hashes); [`anchors`] signs its head with a separate key and checks the chain against the
//! signed heads kept outside the data directory.
//!
//! On PostgreSQL, where whoever can write to the database need not hold the key file, the head
//! is also kept sealed (`meta.audit_head_seal`: the head `"id:hash"` sealed under the key
//! file's key, bound to that meta row). The chain's hashes cover every row, so a row edited,
//! inserted or deleted anywhere, with the hashes after it recomputed, ends in a head the seal
//! does not match, and a new seal needs the key. SQLCipher already authenticates every page of
//! the SQLite file, so SQLite keeps no seal.

pub mod anchors;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::params;
use crate::sql::{Conn, OptionalExtension, Tx};

/// The `prev_hash` of the first row.
const GENESIS: [u8; 32] = [0; 32];

/// One event to append. Fields are identifiers; `detail` is a small JSON object of counts.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    /// What happened: `write`, `read`, `denied`, `session_opened`, ...
    pub event: &'a str,
    /// The user who acted, if known.
    pub actor_user: Option<String>,
    /// The device that acted, if any.
    pub actor_device: Option<String>,
    /// The case concerned, if any.
    pub case_id: Option<String>,
    /// The document concerned, if any.
    pub doc_id: Option<String>,
    /// Another identifier the event is about (a user, device, team or organisation).
    pub subject: Option<String>,
    /// Counts and reasons, as JSON.
    pub detail: serde_json::Value,
}

/// A stored audit row, as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Position in the chain, from 1.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// What happened.
    pub event: String,
    /// The acting user.
    pub actor_user: Option<String>,
    /// The acting device.
    pub actor_device: Option<String>,
    /// The case.
    pub case_id: Option<String>,
    /// The document.
    pub doc_id: Option<String>,
    /// Another identifier the event is about.
    pub subject: Option<String>,
    /// Counts and reasons, as JSON text.
    pub detail: String,
    /// Hex of the chain hash.
    pub hash: String,
}

fn put_field(buf: &mut Vec<u8>, field: Option<&str>) {
    match field {
        None => buf.push(0),
        Some(s) => {
            buf.push(1);
            buf.extend_from_slice(&(s.len() as u64).to_be_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
    }
}

/// SHA-256 over `prev_hash` and the canonical encoding of the row's fields (`row.hash` is
/// not part of it). Public for verifying tools: the hashes are unkeyed, so anyone can compute
/// them; the signed anchors ([`anchors`]) and, on PostgreSQL, the sealed head pin them.
pub fn chain_hash(prev: &[u8], row: &Row) -> [u8; 32] {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"casebook-audit-v1\0");
    buf.extend_from_slice(&row.id.to_be_bytes());
    buf.extend_from_slice(&row.at.to_be_bytes());
    put_field(&mut buf, Some(&row.event));
    put_field(&mut buf, row.actor_user.as_deref());
    put_field(&mut buf, row.actor_device.as_deref());
    put_field(&mut buf, row.case_id.as_deref());
    put_field(&mut buf, row.doc_id.as_deref());
    put_field(&mut buf, row.subject.as_deref());
    put_field(&mut buf, Some(&row.detail));
    let mut h = Sha256::new();
    h.update(prev);
    h.update(&buf);
    h.finalize().into()
}

/// Append `event` at time `at` inside the caller's write transaction.
pub fn append(tx: &Tx<'_>, at: i64, event: Event<'_>) -> Result<i64> {
    let ids = append_all(tx, at, std::iter::once(event))?;
    ids.last()
        .copied()
        .ok_or_else(|| Error::Corrupt("no audit row appended".into()))
}

/// Append `events` in order, all at `at`, reading the chain's head once and recording the new
/// head once: on PostgreSQL a response offering 1,000 documents appends 1,000 `read` rows,
/// and [`append`] one at a time would be three round trips each. The rows and their hashes
/// are exactly those of appending each in turn. Returns their ids.
pub fn append_all<'e>(
    tx: &Tx<'_>,
    at: i64,
    events: impl IntoIterator<Item = Event<'e>>,
) -> Result<Vec<i64>> {
    let last: Option<(i64, Vec<u8>)> = tx
        .query_row(
            "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (mut id, mut prev) = match last {
        Some((id, hash)) => (id, hash),
        None => (0, GENESIS.to_vec()),
    };
    let mut ids = Vec::new();
    for event in events {
        id += 1;
        let row = Row {
            id,
            at,
            event: event.event.to_owned(),
            actor_user: event.actor_user,
            actor_device: event.actor_device,
            case_id: event.case_id,
            doc_id: event.doc_id,
            subject: event.subject,
            detail: event.detail.to_string(),
            hash: String::new(),
        };
        let hash = chain_hash(&prev, &row);
        tx.execute(
            "INSERT INTO audit (id, at, event, actor_user, actor_device, case_id, doc_id, subject,
                                detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                row.id,
                row.at,
                row.event,
                row.actor_user,
                row.actor_device,
                row.case_id,
                row.doc_id,
                row.subject,
                tx.seal_text(&format!("audit/{}", row.id), &row.detail),
                prev,
                hash.to_vec()
            ],
        )?;
        prev = hash.to_vec();
        ids.push(id);
    }
    if !ids.is_empty() {
        set_head(tx, &format!("{id}:{}", hex::encode(&prev)))?;
    }
    Ok(ids)
}

/// The meta row holding the sealed head (PostgreSQL), and the name its seal is bound to.
const HEAD_SEAL: &str = "audit_head_seal";

/// Record `head` (`"id:hash"`) as the chain's head, with its seal where the engine seals.
fn set_head(tx: &Tx<'_>, head: &str) -> Result<()> {
    if !tx.seals() {
        return crate::db::meta_set(tx, "audit_head", head);
    }
    let sealed = hex::encode(tx.seal(&format!("meta/{HEAD_SEAL}"), head.as_bytes().to_vec()));
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('audit_head', ?1), (?2, ?3)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![head, HEAD_SEAL, sealed],
    )?;
    Ok(())
}

/// Seal the recorded head again (PostgreSQL): after `migrate` copied a SQLite deployment's
/// chain and head, whose SQLite source kept no seal. Nothing to do on SQLite or with no head.
pub fn reseal_head(tx: &Tx<'_>) -> Result<()> {
    if !tx.seals() {
        return Ok(());
    }
    match crate::db::meta_get(**tx, "audit_head")? {
        Some(head) => set_head(tx, &head),
        None => Ok(()),
    }
}

/// Whether the recorded `head` carries a seal that opens to it (always, on SQLite).
fn head_seal_matches(conn: Conn<'_>, head: &str) -> Result<bool> {
    if !conn.seals() {
        return Ok(true);
    }
    let Some(sealed) = crate::db::meta_get(conn, HEAD_SEAL)? else {
        return Ok(false);
    };
    let Ok(sealed) = hex::decode(sealed) else {
        return Ok(false);
    };
    Ok(conn
        .unseal(&format!("meta/{HEAD_SEAL}"), sealed)
        .is_ok_and(|plain| plain == head.as_bytes()))
}

/// Where the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// The row id at which the chain is broken (for a deleted row, the missing id).
    pub row_id: i64,
    /// What is wrong.
    pub reason: &'static str,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every link holds; this many rows.
    Intact(u64),
    /// The first broken link.
    Broken(BrokenLink),
}

fn row_from(
    conn: Conn<'_>,
    r: &crate::sql::Row<'_>,
) -> crate::sql::Result<(Row, Vec<u8>, Vec<u8>)> {
    let hash: Vec<u8> = r.get(10)?;
    let id: i64 = r.get(0)?;
    Ok((
        Row {
            id,
            at: r.get(1)?,
            event: r.get(2)?,
            actor_user: r.get(3)?,
            actor_device: r.get(4)?,
            case_id: r.get(5)?,
            doc_id: r.get(6)?,
            subject: r.get(7)?,
            detail: conn.unseal_text(&format!("audit/{id}"), r.get(8)?)?,
            hash: hex::encode(&hash),
        },
        r.get(9)?,
        hash,
    ))
}

const SELECT: &str = "SELECT id, at, event, actor_user, actor_device, case_id, doc_id, subject,
                             detail, prev_hash, hash FROM audit";

/// Check the whole chain, and that its last row is the head recorded at the last append.
pub fn verify(conn: Conn<'_>) -> Result<Verdict> {
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY id"))?;
    let mut rows = stmt.query([])?;
    let mut prev = GENESIS.to_vec();
    let mut expected_id = 1;
    let mut count = 0;
    let broken = |row_id, reason| Ok(Verdict::Broken(BrokenLink { row_id, reason }));
    while let Some(r) = rows.next()? {
        let (row, prev_hash, hash) = match row_from(conn, &r) {
            Ok(read) => read,
            // A sealed detail that does not open (PostgreSQL) was altered or moved.
            Err(crate::sql::Error::Sealed { .. }) => {
                return broken(r.get(0)?, "row contents do not match its seal");
            }
            Err(e) => return Err(e.into()),
        };
        if row.id != expected_id {
            return broken(expected_id, "row missing");
        }
        if prev_hash != prev {
            return broken(row.id, "previous hash does not match");
        }
        if chain_hash(&prev, &row).as_slice() != hash.as_slice() {
            return broken(row.id, "row contents do not match its hash");
        }
        prev = hash;
        expected_id += 1;
        count += 1;
    }
    match crate::db::meta_get(conn, "audit_head")? {
        None if count == 0 => Ok(Verdict::Intact(0)),
        None => broken(1, "chain head missing"),
        Some(head) => {
            let (id, hash) = head
                .split_once(':')
                .ok_or_else(|| Error::Corrupt("audit head".into()))?;
            let id: i64 = id
                .parse()
                .map_err(|_| Error::Corrupt("audit head".into()))?;
            if id >= expected_id {
                broken(expected_id, "row missing")
            } else if id != expected_id - 1 || hash != hex::encode(&prev) {
                broken(id, "chain head does not match")
            } else if !head_seal_matches(conn, &head)? {
                broken(id, "chain head does not match its seal")
            } else {
                Ok(Verdict::Intact(count))
            }
        }
    }
}

/// The newest row's id and chain hash, or `None` for an empty log.
pub fn head(conn: Conn<'_>) -> Result<Option<(i64, [u8; 32])>> {
    let row: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(id, hash)| {
        let hash = <[u8; 32]>::try_from(hash.as_slice())
            .map_err(|_| Error::Corrupt("audit hash length".into()))?;
        Ok((id, hash))
    })
    .transpose()
}

/// The chain hash stored for row `id`, if that row exists.
pub fn hash_at(conn: Conn<'_>, id: i64) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row("SELECT hash FROM audit WHERE id = ?1", [id], |r| r.get(0))
        .optional()?)
}

/// Every row, oldest first, details opened (for tools and tests; the console pages with
/// [`export_newest`]).
pub fn all(conn: Conn<'_>) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY id"))?;
    let rows = stmt
        .query_map([], |r| row_from(conn, r).map(|(row, _, _)| row))?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Which rows to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Every row about this case.
    Case(String),
    /// Every row where this user acted or was the subject.
    User(String),
}

/// The rows matching `filter`, oldest first.
pub fn export(conn: Conn<'_>, filter: &Filter) -> Result<Vec<Row>> {
    let (sql, key) = match filter {
        Filter::Case(c) => (format!("{SELECT} WHERE case_id = ?1 ORDER BY id"), c),
        Filter::User(u) => (
            format!("{SELECT} WHERE actor_user = ?1 OR subject = ?1 ORDER BY id"),
            u,
        ),
    };
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map([key], |r| row_from(conn, r).map(|(row, _, _)| row))?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// One page of the rows matching `filter`, newest first (`limit` rows after skipping
/// `offset`), and how many rows match in all.
pub fn export_newest(
    conn: Conn<'_>,
    filter: &Filter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<Row>, u64)> {
    let (condition, key) = match filter {
        Filter::Case(c) => ("case_id = ?1", c),
        Filter::User(u) => ("(actor_user = ?1 OR subject = ?1)", u),
    };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM audit WHERE {condition}"),
        [key],
        |r| r.get(0),
    )?;
    let sql = format!("{SELECT} WHERE {condition} ORDER BY id DESC LIMIT ?2 OFFSET ?3");
    let (offset, limit) = (
        i64::try_from(offset).unwrap_or(i64::MAX),
        i64::try_from(limit).unwrap_or(i64::MAX),
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(crate::params![key, limit, offset], |r| {
            row_from(conn, r).map(|(row, _, _)| row)
        })?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

/// How many rows the log holds.
pub fn count(conn: Conn<'_>) -> Result<u64> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use serde_json::json;

    fn db_with_rows(n: usize) -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(
            &dir.path().join("db.sqlite"),
            casebook_core::store::StoreKey::from_bytes(&[5u8; 32]).expect("key"),
        )
        .expect("open");
        db.write_blocking(|tx| {
            for i in 0..n {
                append(
                    tx,
                    1_000 + i as i64,
                    Event {
                        event: "write",
                        actor_user: Some("u1".into()),
                        case_id: Some(format!("case{}", i % 2)),
                        detail: json!({ "changes": i }),
                        ..Event::default()
                    },
                )?;
            }
            Ok(())
        })
        .expect("append");
        (dir, db)
    }

    /// Appending several events together gives the very rows (ids, hashes, head) that
    /// appending them one at a time gives, after rows already there, and the chain verifies.
    #[test]
    fn appending_together_is_appending_one_at_a_time() -> Result<()> {
        let (_one_dir, one) = db_with_rows(3);
        let (_all_dir, all) = db_with_rows(3);
        let events = || {
            (0..5).map(|i| Event {
                event: "read",
                actor_user: Some("u1".into()),
                actor_device: Some("d1".into()),
                doc_id: Some(format!("doc{i}")),
                detail: json!({ "snapshot_bytes": i }),
                ..Event::default()
            })
        };
        one.write_blocking(|tx| {
            for event in events() {
                append(tx, 2_000, event)?;
            }
            Ok(())
        })?;
        let ids = all.write_blocking(|tx| append_all(tx, 2_000, events()))?;
        assert_eq!(ids, vec![4, 5, 6, 7, 8]);
        assert!(
            all.write_blocking(|tx| append_all(tx, 2_000, std::iter::empty()))?
                .is_empty()
        );
        let rows = |db: &Db| db.read_blocking(|c| export(c, &Filter::User("u1".into())));
        assert_eq!(rows(&one)?.len(), 8);
        assert_eq!(rows(&one)?, rows(&all)?);
        let head = |db: &Db| db.read_blocking(|c| crate::db::meta_get(c, "audit_head"));
        assert_eq!(head(&one)?, head(&all)?);
        assert!(matches!(all.read_blocking(verify)?, Verdict::Intact(8)));
        Ok(())
    }

    #[test]
    fn a_page_of_the_newest_rows_and_the_total() -> Result<()> {
        let (_dir, db) = db_with_rows(9);
        let case0 = Filter::Case("case0".into());
        let (rows, total) = db.read_blocking(|c| export_newest(c, &case0, 0, 2))?;
        assert_eq!(total, 5, "rows 0, 2, 4, 6, 8 are case0's");
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let all: Vec<i64> = db
            .read_blocking(|c| export(c, &case0))?
            .iter()
            .rev()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, all[..2].to_vec(), "newest first");
        let (rows, _) = db.read_blocking(|c| export_newest(c, &case0, 4, 2))?;
        assert_eq!(
            rows.iter().map(|r| r.id).collect::<Vec<_>>(),
            all[4..].to_vec()
        );
        let user = Filter::User("u1".into());
        assert_eq!(db.read_blocking(|c| export_newest(c, &user, 0, 100))?.1, 9);
        Ok(())
    }

    fn verdict(db: &Db) -> Verdict {
        db.read_blocking(verify).expect("verify")
    }

    #[test]
    fn intact_chain_verifies() {
        let (_dir, db) = db_with_rows(5);
        assert_eq!(verdict(&db), Verdict::Intact(5));
        let (_dir, empty) = db_with_rows(0);
        assert_eq!(verdict(&empty), Verdict::Intact(0));
    }

    #[test]
    fn updated_field_breaks_at_that_row() {
        let (_dir, db) = db_with_rows(5);
        db.write_blocking(|tx| {
            tx.execute(
                "UPDATE audit SET detail = '{\"changes\":99}' WHERE id = 3",
                [],
            )?;
            Ok(())
        })
        .expect("tamper");
        let Verdict::Broken(link) = verdict(&db) else {
            panic!("tampering not detected")
        };
        assert_eq!(link.row_id, 3);
    }

    #[test]
    fn deleted_row_breaks_at_that_row() {
        let (_dir, db) = db_with_rows(5);
        db.write_blocking(|tx| {
            tx.execute("DELETE FROM audit WHERE id = 2", [])?;
            Ok(())
        })
        .expect("tamper");
        assert!(matches!(
            verdict(&db),
            Verdict::Broken(BrokenLink { row_id: 2, .. })
        ));
    }

    #[test]
    fn deleted_last_row_is_detected() {
        let (_dir, db) = db_with_rows(4);
        db.write_blocking(|tx| {
            tx.execute("DELETE FROM audit WHERE id = 4", [])?;
            Ok(())
        })
        .expect("tamper");
        assert!(matches!(
            verdict(&db),
            Verdict::Broken(BrokenLink { row_id: 4, .. })
        ));
    }

    #[test]
    fn export_filters_by_case_and_user() {
        let (_dir, db) = db_with_rows(4);
        let rows = db
            .read_blocking(|c| export(c, &Filter::Case("case1".into())))
            .expect("export");
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![2, 4]);
        let rows = db
            .read_blocking(|c| export(c, &Filter::User("u1".into())))
            .expect("export");
        assert_eq!(rows.len(), 4);
    }
}

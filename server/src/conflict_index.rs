//! Which stored documents hold conflicts waiting for a person: two devices set the same field
//! differently offline, and both values stay until someone chooses (`casebook_core::doc`'s
//! `conflicts`). Counted from the document already in memory whenever one is stored (by the
//! sync exchange or a console resolution) and kept in `doc_conflicts`, so the supervisor's
//! home page lists conflicts across thousands of cases without loading a document. Documents
//! stored before the index existed (migration 010) are counted once when the server opens the
//! database ([`backfill`]).

use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use casebook_core::doc::DocId;

use crate::db::{self, Db};
use crate::error::Result;
use crate::params;
use crate::sql::{Conn, Tx};

/// The `meta` row that says documents stored before migration 010 are not counted yet
/// (inserted by migration 011).
const BACKFILL_PENDING: &str = "conflict_index_backfill";

/// How many documents one write transaction of the backfill counts (so syncs wait at most
/// one batch for the writer).
pub const BACKFILL_BATCH: usize = 200;

/// How many fields of `doc` hold more than one distinct current value: the number of
/// conflicts the core's `CaseDoc::conflicts` lists for the same document (the same walk:
/// maps from the root, a field with two different scalars, or any object among its values).
pub fn count_in<R: ReadDoc>(doc: &R) -> usize {
    let mut found = 0;
    walk(doc, &ROOT, &mut found, 0);
    found
}

/// Deeper than any document Casebook writes; a hostile document cannot make the walk recurse
/// without end.
const MAX_DEPTH: usize = 32;

fn walk<R: ReadDoc>(doc: &R, obj: &ObjId, found: &mut usize, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    for key in doc.keys(obj) {
        let Ok(all) = doc.get_all(obj, key.as_str()) else {
            continue;
        };
        if all.len() > 1 && distinct(&all) {
            *found += 1;
        } else if let Some((Value::Object(ObjType::Map), child)) = all.into_iter().next() {
            walk(doc, &child, found, depth + 1);
        }
    }
}

fn distinct(all: &[(Value<'_>, ObjId)]) -> bool {
    let mut first: Option<&ScalarValue> = None;
    for (value, _) in all {
        match value {
            Value::Object(_) => return true,
            Value::Scalar(s) => match first {
                None => first = Some(s.as_ref()),
                Some(seen) if seen != s.as_ref() => return true,
                Some(_) => {}
            },
        }
    }
    false
}

/// Record that `doc`, just stored, holds `fields` conflicted fields (0: none).
pub fn record(tx: &Tx<'_>, doc: &DocId, fields: usize, now: i64) -> Result<()> {
    if fields == 0 {
        tx.prepare_cached("DELETE FROM doc_conflicts WHERE doc_id = ?1")?
            .execute([doc.to_string()])?;
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO doc_conflicts (doc_id, case_id, fields, seen_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(doc_id) DO UPDATE SET fields = excluded.fields, seen_at = excluded.seen_at",
    )?
    .execute(params![
        doc.to_string(),
        doc.case.to_string(),
        i64::try_from(fields).unwrap_or(i64::MAX),
        now
    ])?;
    Ok(())
}

/// Count the conflicts of every stored document without a `doc_conflicts` row, once, if
/// migration 011 asked for it (a no-op afterwards): in batches of [`BACKFILL_BATCH`]
/// documents, each in its own write transaction, with progress logged. Blocking: call it
/// from a blocking thread (the server does when it opens its data directory). A document
/// that does not load is left out (and logged by id count, never content). Returns how many
/// documents were found with conflicts.
pub fn backfill(db: &Db, now: i64) -> Result<usize> {
    if db
        .read_blocking(|conn| db::meta_get(conn, BACKFILL_PENDING))?
        .is_none()
    {
        return Ok(0);
    }
    let ids: Vec<String> = db.read_blocking(|conn| {
        let mut stmt = conn.prepare(
            "SELECT doc_id FROM docs WHERE doc_id NOT IN (SELECT doc_id FROM doc_conflicts)
             ORDER BY doc_id",
        )?;
        Ok(stmt
            .query_map([], |r| r.get(0))?
            .collect::<crate::sql::Result<_>>()?)
    })?;
    let total = ids.len();
    tracing::info!(
        total,
        "conflict index backfill: counting documents stored before it"
    );
    let (mut done, mut found, mut unloadable) = (0usize, 0usize, 0usize);
    for batch in ids.chunks(BACKFILL_BATCH) {
        let (batch_found, batch_unloadable) = db.write_blocking(|tx| {
            let (mut found, mut unloadable) = (0, 0);
            for id in batch {
                let Ok(doc) = id.parse::<DocId>() else {
                    unloadable += 1;
                    continue;
                };
                let bytes = crate::db::docs::read_bytes(**tx, id)?;
                let Some(bytes) = bytes else { continue };
                let loaded = std::panic::catch_unwind(|| automerge::Automerge::load(&bytes).ok())
                    .ok()
                    .flatten();
                let Some(loaded) = loaded else {
                    unloadable += 1;
                    continue;
                };
                let fields = count_in(&loaded);
                if fields > 0 {
                    record(tx, &doc, fields, now)?;
                    found += 1;
                }
            }
            Ok((found, unloadable))
        })?;
        done += batch.len();
        found += batch_found;
        unloadable += batch_unloadable;
        tracing::info!(done, total, found, "conflict index backfill: progress");
    }
    if unloadable > 0 {
        tracing::warn!(
            unloadable,
            "conflict index backfill: documents that did not load"
        );
    }
    db.write_blocking(|tx| {
        tx.execute("DELETE FROM meta WHERE key = ?1", [BACKFILL_PENDING])?;
        Ok(())
    })?;
    tracing::info!(total, found, "conflict index backfill: done");
    Ok(found)
}

/// Whether the backfill is still to run.
pub fn backfill_pending(conn: Conn<'_>) -> Result<bool> {
    Ok(db::meta_get(conn, BACKFILL_PENDING)?.is_some())
}

/// One document with conflicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflicted {
    /// The document.
    pub doc: DocId,
    /// How many fields are in conflict.
    pub fields: i64,
    /// When it was last stored with them (Unix seconds).
    pub seen_at: i64,
}

/// Every document with conflicts, newest first, for which `readable` says yes.
pub fn list(conn: Conn<'_>, readable: impl Fn(&DocId) -> bool) -> Result<Vec<Conflicted>> {
    let mut stmt = conn.prepare_cached(
        "SELECT doc_id, fields, seen_at FROM doc_conflicts ORDER BY seen_at DESC, doc_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (doc, fields, seen_at) = row?;
        let Ok(doc) = doc.parse::<DocId>() else {
            continue;
        };
        if readable(&doc) {
            out.push(Conflicted {
                doc,
                fields,
                seen_at,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use casebook_core::doc::{Author, CaseDoc, DocKind, Edit};
    use casebook_core::ids::{CaseId, DeviceId, UserId};
    use casebook_core::model::{Profile, new_case};
    use chrono::{TimeZone, Utc};

    use super::*;

    fn profile_doc(device: u8) -> (CaseDoc, Edit) {
        let author = Author {
            user: UserId::from_bytes([device; 16]),
            device: DeviceId::from_bytes([device; 16]),
        };
        let at = Utc
            .with_ymd_and_hms(2026, 11, 30, 2, 10, 0)
            .single()
            .expect("time");
        let edit = Edit::new(author, at);
        let profile = Profile {
            case_reference: "HUL-1".into(),
            ..Profile::default()
        };
        let docs = new_case(CaseId::from_bytes([3; 16]), &edit, &profile).expect("case");
        let doc = docs
            .into_iter()
            .find(|d| d.kind() == DocKind::Profile)
            .expect("profile");
        (doc, edit)
    }

    fn with_name(doc: &CaseDoc, edit: &Edit, given: &str) -> CaseDoc {
        let mut base = doc.automerge().clone();
        let mut copy = CaseDoc::load(doc.id(), Some(&base.save()), &[]).expect("load");
        let mut p = copy.profile().expect("profile");
        p.given_name = given.into();
        copy.set_profile(edit, &p).expect("set");
        copy
    }

    /// Two phones set the child's name differently offline: one conflict, the same count as
    /// the core lists, and none once both agree.
    #[test]
    fn counts_what_the_core_lists_as_conflicts() {
        let (base, edit_a) = profile_doc(1);
        let (_, edit_b) = profile_doc(2);
        assert_eq!(count_in(base.automerge()), 0);
        let mut a = with_name(&base, &edit_a, "Anh");
        let mut b = with_name(&base, &edit_b, "Linh");
        a.merge_bytes(&b.save()).expect("merge");
        let listed = a.conflicts().expect("conflicts");
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(count_in(a.automerge()), 1);

        let mut same_a = with_name(&base, &edit_a, "Anh");
        let mut same_b = with_name(&base, &edit_b, "Anh");
        same_a.merge_bytes(&same_b.save()).expect("merge");
        assert!(same_a.conflicts().expect("conflicts").is_empty());
        assert_eq!(count_in(same_a.automerge()), 0);
    }

    /// Documents stored before the index (no row) are counted once by the backfill, in
    /// batches; a document that does not load is left out; a second run does nothing.
    #[test]
    fn documents_stored_before_the_index_are_counted_once_by_the_backfill() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = casebook_core::store::StoreKey::from_bytes(&[5u8; 32]).expect("key");
        let db = Db::open(&dir.path().join("db.sqlite"), key).expect("open");
        let (base, edit_a) = profile_doc(1);
        let (_, edit_b) = profile_doc(2);
        let mut conflicted = with_name(&base, &edit_a, "Anh");
        let mut other = with_name(&base, &edit_b, "Linh");
        conflicted.merge_bytes(&other.save()).expect("merge");
        let conflicted_id = conflicted.id();
        let conflicted_bytes = conflicted.save();
        let mut clean = base.automerge().clone();
        let clean_bytes = clean.save();
        // More documents than a batch: the conflicted one, BACKFILL_BATCH clean ones (under
        // other ids) and one that does not load.
        db.write_blocking(|tx| {
            let mut insert = tx.prepare(
                "INSERT INTO docs (doc_id, case_id, kind, seq, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let doc = conflicted_id;
            insert.execute(params![
                doc.to_string(),
                doc.case.to_string(),
                "profile",
                1,
                conflicted_bytes
            ])?;
            for n in 0..BACKFILL_BATCH {
                let case = CaseId::from_bytes([
                    u8::try_from(n % 250).unwrap_or(0) + 4,
                    9,
                    9,
                    9,
                    9,
                    9,
                    9,
                    9,
                    9,
                    9,
                    9,
                    9,
                    9,
                    9,
                    u8::try_from(n / 250).unwrap_or(0),
                    1,
                ]);
                let doc = DocId::new(case, DocKind::Profile);
                insert.execute(params![
                    doc.to_string(),
                    case.to_string(),
                    "profile",
                    2,
                    clean_bytes
                ])?;
            }
            let broken = DocId::new(CaseId::from_bytes([250; 16]), DocKind::Visits);
            insert.execute(params![
                broken.to_string(),
                broken.case.to_string(),
                "visits",
                3,
                b"not automerge".to_vec()
            ])?;
            Ok(())
        })
        .expect("stored");
        assert!(db.read_blocking(backfill_pending).expect("pending"));
        assert_eq!(backfill(&db, 77).expect("backfill"), 1);
        let rows = db.read_blocking(|c| list(c, |_| true)).expect("list");
        assert_eq!(
            rows,
            vec![Conflicted {
                doc: conflicted_id,
                fields: 1,
                seen_at: 77,
            }]
        );
        assert!(!db.read_blocking(backfill_pending).expect("done"));
        assert_eq!(backfill(&db, 78).expect("again"), 0, "runs once");
    }
}

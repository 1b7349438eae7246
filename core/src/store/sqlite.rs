//! [`SqliteStore`]: the device's store, an SQLCipher database encrypted with a raw
//! [`StoreKey`], in WAL mode with full fsync so a commit survives a crash or power loss.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::key::StoreKey;
use super::{Attachment, CaseSummary, DirtyDoc, Store, StoredDoc, WriteOp};
use super::{attachments, cipher, schema, sqlite_alerts};
use crate::alert::StoredAlert;
use crate::doc::DocId;
use crate::error::{Error, Result};
use crate::ids::CaseId;
use crate::model::PhotoRef;
use crate::view::{DocView, RowKind, ViewChange, ViewRow};

/// The encrypted SQLite store. One connection, one writer; every [`Store::apply`] is one
/// immediate transaction, durable when it returns.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open the store at `path`, creating it if it does not exist, and bring its schema up
    /// to date.
    ///
    /// The key is checked before anything is written, so a wrong key leaves the file
    /// exactly as it was.
    ///
    /// # Errors
    /// [`Error::WrongKey`] if `key` does not decrypt the file (or it is not a store),
    /// [`Error::SchemaTooNew`] if a newer build wrote it, [`Error::EncryptionUnavailable`]
    /// if this build's SQLite cannot encrypt, [`Error::Storage`] for other failures.
    pub fn open(path: &Path, key: StoreKey) -> Result<Self> {
        Self::open_with(path, key, cipher::MemorySecurity::On)
    }

    /// [`SqliteStore::open`] choosing whether to turn on SQLCipher's process-wide memory
    /// security. A device's store has it on ([`SqliteStore::open`]); a test process that
    /// measures a server beside its devices leaves it off, as the server's own process has it.
    pub fn open_with(path: &Path, key: StoreKey, memory: cipher::MemorySecurity) -> Result<Self> {
        let mut conn = cipher::open(path, key, memory)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        schema::migrate(&tx)?;
        tx.commit()?;
        Ok(Self {
            conn,
            path: path.to_owned(),
        })
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the database is sound: SQLite's `integrity_check` reports "ok" and
    /// SQLCipher's `cipher_integrity_check` finds no page whose authentication fails.
    pub fn integrity_check(&self) -> Result<bool> {
        let mut report = Vec::new();
        self.conn.pragma_query(None, "integrity_check", |row| {
            report.push(row.get::<_, String>(0)?);
            Ok(())
        })?;
        let mut cipher_failures = 0usize;
        self.conn
            .pragma_query(None, "cipher_integrity_check", |_| {
                cipher_failures += 1;
                Ok(())
            })?;
        Ok(report == ["ok"] && cipher_failures == 0)
    }
}

impl Store for SqliteStore {
    fn load(&self, doc: &DocId) -> Result<Option<StoredDoc>> {
        load(&self.conn, doc)
    }

    fn holds(&self, doc: &DocId) -> Result<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM docs WHERE doc_id = ?1)";
        let held = (self.conn.prepare_cached(sql)?).query_row([doc.to_string()], |r| r.get(0))?;
        Ok(held)
    }

    fn docs(&self) -> Result<Vec<DocId>> {
        docs(&self.conn)
    }

    fn dirty(&self) -> Result<Vec<DirtyDoc>> {
        dirty(&self.conn)
    }

    fn cases(&self) -> Result<Vec<CaseSummary>> {
        cases(&self.conn)
    }

    fn case(&self, id: &CaseId) -> Result<Option<CaseSummary>> {
        case(&self.conn, id)
    }

    fn sync_state(&self, peer: &str, doc: &DocId) -> Result<Option<Vec<u8>>> {
        sync_state(&self.conn, peer, doc)
    }

    fn view(&self, doc: &DocId, kind: RowKind, record: Option<&str>) -> Result<Option<DocView>> {
        view(&self.conn, doc, kind, record)
    }

    fn view_version(&self, doc: &DocId) -> Result<Option<String>> {
        view_version(&self.conn, doc)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        meta(&self.conn, key)
    }

    fn attachment(&self, id: &str) -> Result<Option<Attachment>> {
        attachments::attachment(&self.conn, id)
    }

    fn attachment_ref(&self, doc: &DocId) -> Result<Option<PhotoRef>> {
        attachments::attachment_ref(&self.conn, doc)
    }

    fn pending_uploads(&self) -> Result<Vec<(DocId, String)>> {
        attachments::pending_uploads(&self.conn)
    }

    fn missing_attachments(&self) -> Result<Vec<(DocId, PhotoRef)>> {
        attachments::missing_attachments(&self.conn)
    }

    fn alerts(&self) -> Result<Vec<StoredAlert>> {
        sqlite_alerts::alerts(&self.conn)
    }

    fn apply(&mut self, ops: Vec<WriteOp>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let purges = ops
            .iter()
            .any(|op| matches!(op, WriteOp::RemoveDoc(_) | WriteOp::SetAttachmentRef { .. }));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for op in ops {
            apply_op(&tx, op)?;
        }
        tx.commit()?;
        if purges {
            // The removed document's (or replaced image's) pages still sit in older WAL
            // frames, readable with the store key while the store is open: fold the WAL into
            // the file (where `secure_delete` has zeroed the freed cells) and truncate it.
            checkpoint_truncate(&self.conn)?;
        }
        Ok(())
    }

    fn wipe(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        delete_everything(&tx)?;
        tx.commit()?;
        // Fold the WAL into the file and truncate it, rebuild the file without the freed
        // pages, then fold the rebuild in too: nothing of the old rows is left anywhere.
        checkpoint_truncate(&self.conn)?;
        self.conn.execute_batch("VACUUM;")?;
        checkpoint_truncate(&self.conn)?;
        Ok(())
    }
}

// ---- reads -------------------------------------------------------------------------------

fn load(conn: &Connection, doc: &DocId) -> Result<Option<StoredDoc>> {
    let id = doc.to_string();
    let row = conn
        .prepare_cached(
            "SELECT s.snapshot, d.last_chunk FROM docs d \
             LEFT JOIN doc_snapshots s ON s.doc_id = d.doc_id WHERE d.doc_id = ?1",
        )?
        .query_row([&id], |row| {
            Ok((row.get::<_, Option<Vec<u8>>>(0)?, row.get::<_, i64>(1)?))
        })
        .optional()?;
    let Some((snapshot, last_chunk)) = row else {
        return Ok(None);
    };
    let mut stmt =
        conn.prepare_cached("SELECT bytes FROM chunks WHERE doc_id = ?1 ORDER BY seq")?;
    let chunks = stmt
        .query_map([&id], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<Vec<u8>>>>()?;
    Ok(Some(StoredDoc {
        snapshot,
        chunks,
        last_chunk: seq_from_sql(last_chunk, "docs.last_chunk")?,
    }))
}

fn docs(conn: &Connection) -> Result<Vec<DocId>> {
    let mut stmt = conn.prepare_cached("SELECT doc_id FROM docs")?;
    let ids = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut docs = ids
        .iter()
        .map(|id| doc_id_from_sql(id, "docs.doc_id"))
        .collect::<Result<Vec<_>>>()?;
    docs.sort_unstable();
    Ok(docs)
}

fn dirty(conn: &Connection) -> Result<Vec<DirtyDoc>> {
    let mut stmt = conn.prepare_cached(
        "SELECT doc_id, last_local_chunk FROM docs WHERE last_local_chunk > synced_chunk",
    )?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut dirty = rows
        .iter()
        .map(|(id, last)| {
            Ok(DirtyDoc {
                doc: doc_id_from_sql(id, "docs.doc_id")?,
                last_local_chunk: seq_from_sql(*last, "docs.last_local_chunk")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    dirty.sort_unstable_by_key(|d| d.doc);
    Ok(dirty)
}

fn cases(conn: &Connection) -> Result<Vec<CaseSummary>> {
    summaries(
        conn,
        "SELECT case_id, reference, display_name, updated_at FROM case_summaries \
         ORDER BY reference, case_id",
        "",
    )
}

fn case(conn: &Connection, case: &CaseId) -> Result<Option<CaseSummary>> {
    Ok(summaries(
        conn,
        "SELECT case_id, reference, display_name, updated_at FROM case_summaries \
         WHERE case_id = ?1",
        &case.to_string(),
    )?
    .into_iter()
    .next())
}

fn summaries(conn: &Connection, sql: &str, param: &str) -> Result<Vec<CaseSummary>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let bind = |stmt: &mut rusqlite::CachedStatement<'_>| -> rusqlite::Result<Vec<(String, String, String, String)>> {
        let map = |row: &rusqlite::Row<'_>| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        };
        if param.is_empty() {
            stmt.query_map([], map)?.collect()
        } else {
            stmt.query_map([param], map)?.collect()
        }
    };
    let rows = bind(&mut stmt)?;
    rows.into_iter()
        .map(|(case, reference, display_name, updated_at)| {
            Ok(CaseSummary {
                case: case
                    .parse::<CaseId>()
                    .map_err(|_| malformed("case_summaries.case_id", "not a case id"))?,
                reference,
                display_name,
                updated_at: DateTime::parse_from_rfc3339(&updated_at)
                    .map_err(|_| malformed("case_summaries.updated_at", "not an RFC 3339 time"))?
                    .with_timezone(&Utc),
            })
        })
        .collect()
}

fn sync_state(conn: &Connection, peer: &str, doc: &DocId) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT state FROM sync_states WHERE peer = ?1 AND doc_id = ?2")?
        .query_row((peer, doc.to_string()), |row| row.get(0))
        .optional()?)
}

fn meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

fn view_version(conn: &Connection, doc: &DocId) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT version FROM view_docs WHERE doc_id = ?1")?
        .query_row([doc.to_string()], |row| row.get(0))
        .optional()?)
}

fn view(
    conn: &Connection,
    doc: &DocId,
    kind: RowKind,
    record: Option<&str>,
) -> Result<Option<DocView>> {
    let Some(version) = view_version(conn, doc)? else {
        return Ok(None);
    };
    let id = doc.to_string();
    let map = |row: &rusqlite::Row<'_>| {
        let body = match row.get_ref(1)? {
            rusqlite::types::ValueRef::Blob(bytes) => Body::Stored(bytes.to_vec()),
            value => Body::Text(value.as_str()?.to_owned()),
        };
        Ok((row.get::<_, String>(0)?, body))
    };
    let rows = match record {
        Some(record) => conn
            .prepare_cached(
                "SELECT record_id, body FROM view_rows \
                 WHERE doc_id = ?1 AND kind = ?2 AND record_id = ?3",
            )?
            .query_map((&id, kind.as_str(), record), map)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        None => conn
            .prepare_cached(
                "SELECT record_id, body FROM view_rows \
                 WHERE doc_id = ?1 AND kind = ?2 ORDER BY record_id",
            )?
            .query_map((&id, kind.as_str()), map)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    Ok(Some(DocView {
        version,
        rows: rows
            .into_iter()
            .map(|(record, body)| {
                Ok(ViewRow {
                    kind,
                    record,
                    body: body.decode()?,
                })
            })
            .collect::<Result<_>>()?,
    }))
}

/// Bodies at least this long are stored deflated.
const DEFLATE_FROM: usize = 512;

/// A view row's body as read.
enum Body {
    /// Tagged bytes (see `encode_body`).
    Stored(Vec<u8>),
    /// Plain text (a store written before bodies were tagged).
    Text(String),
}

impl Body {
    fn decode(self) -> Result<String> {
        use std::io::Read;
        let bytes = match self {
            Body::Text(text) => return Ok(text),
            Body::Stored(bytes) => bytes,
        };
        let unreadable = || malformed("view_rows.body", "not a stored body");
        match bytes.split_first() {
            Some((0, json)) => String::from_utf8(json.to_vec()).map_err(|_| unreadable()),
            Some((1, deflated)) => {
                let mut json = String::new();
                flate2::read::DeflateDecoder::new(deflated)
                    .read_to_string(&mut json)
                    .map_err(|_| unreadable())?;
                Ok(json)
            }
            _ => Err(unreadable()),
        }
    }
}

/// A body as stored: tag 0 then the JSON, or (long ones) tag 1 then the JSON deflated.
fn encode_body(json: &str) -> Result<Vec<u8>> {
    use std::io::Write;
    if json.len() < DEFLATE_FROM {
        let mut out = Vec::with_capacity(json.len() + 1);
        out.push(0);
        out.extend_from_slice(json.as_bytes());
        return Ok(out);
    }
    let mut encoder = flate2::write::DeflateEncoder::new(vec![1u8], flate2::Compression::fast());
    encoder
        .write_all(json.as_bytes())
        .and_then(|()| encoder.finish())
        .map_err(|e| Error::invalid("view row", e.to_string()))
}

/// The highest chunk number ever given to `doc` (0 if it has none or is not stored).
fn last_chunk(conn: &Connection, doc: &str) -> Result<u64> {
    let last = conn
        .prepare_cached("SELECT last_chunk FROM docs WHERE doc_id = ?1")?
        .query_row([doc], |row| row.get::<_, i64>(0))
        .optional()?;
    last.map_or(Ok(0), |last| seq_from_sql(last, "docs.last_chunk"))
}

// ---- writes ------------------------------------------------------------------------------

fn apply_op(tx: &Transaction<'_>, op: WriteOp) -> Result<()> {
    match op {
        WriteOp::AppendChunk { doc, bytes, local } => append_chunk(tx, &doc, &bytes, local),
        WriteOp::Compact {
            doc,
            snapshot,
            upto,
        } => compact(tx, &doc, &snapshot, upto),
        WriteOp::MarkSynced { doc, upto } => mark_synced(tx, &doc, upto),
        WriteOp::RemoveDoc(doc) => remove_doc(tx, &doc),
        WriteOp::PutSummary(summary) => put_summary(tx, &summary),
        WriteOp::RemoveSummary(case) => {
            tx.prepare_cached("DELETE FROM case_summaries WHERE case_id = ?1")?
                .execute([case.to_string()])?;
            Ok(())
        }
        WriteOp::PutSyncState { peer, doc, state } => {
            tx.prepare_cached(
                "INSERT INTO sync_states (peer, doc_id, state) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (peer, doc_id) DO UPDATE SET state = excluded.state",
            )?
            .execute((peer, doc.to_string(), state))?;
            Ok(())
        }
        WriteOp::PutView(change) => put_view(tx, &change),
        WriteOp::PutAttachment(attachment) => attachments::put(tx, &attachment),
        WriteOp::MarkAttachmentUploaded(id) => attachments::mark_uploaded(tx, &id),
        WriteOp::SetAttachmentRef { doc, reference } => {
            attachments::set_ref(tx, &doc, reference.as_ref())
        }
        WriteOp::PutMeta { key, value } => {
            tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute((key, value))?;
            Ok(())
        }
        op @ (WriteOp::PutAlert(_)
        | WriteOp::AcknowledgeAlert { .. }
        | WriteOp::AcknowledgementSent(_)
        | WriteOp::RemoveAlerts(_)) => sqlite_alerts::apply(tx, op),
    }
}

fn append_chunk(tx: &Transaction<'_>, doc: &DocId, bytes: &[u8], local: bool) -> Result<()> {
    let id = doc.to_string();
    tx.prepare_cached("INSERT INTO docs (doc_id) VALUES (?1) ON CONFLICT (doc_id) DO NOTHING")?
        .execute([&id])?;
    // The new sequence number is one past the highest ever assigned, never a reused one.
    let seq: i64 = tx
        .prepare_cached(
            "UPDATE docs SET last_chunk = last_chunk + 1, \
             last_local_chunk = CASE WHEN ?2 THEN last_chunk + 1 ELSE last_local_chunk END \
             WHERE doc_id = ?1 RETURNING last_chunk",
        )?
        .query_row((&id, local), |row| row.get(0))?;
    tx.prepare_cached("INSERT INTO chunks (doc_id, seq, bytes) VALUES (?1, ?2, ?3)")?
        .execute((&id, seq, bytes))?;
    Ok(())
}

fn compact(tx: &Transaction<'_>, doc: &DocId, snapshot: &[u8], upto: u64) -> Result<()> {
    let id = doc.to_string();
    if upto > last_chunk(tx, &id)? {
        return Err(Error::invalid("upto", "beyond the document's last chunk"));
    }
    tx.prepare_cached("INSERT INTO docs (doc_id) VALUES (?1) ON CONFLICT (doc_id) DO NOTHING")?
        .execute([&id])?;
    // In a table of its own: updating the document's counters never rewrites it.
    tx.prepare_cached(
        "INSERT INTO doc_snapshots (doc_id, snapshot) VALUES (?1, ?2) \
         ON CONFLICT (doc_id) DO UPDATE SET snapshot = excluded.snapshot",
    )?
    .execute((&id, snapshot))?;
    tx.prepare_cached("DELETE FROM chunks WHERE doc_id = ?1 AND seq <= ?2")?
        .execute((&id, seq_to_sql(upto)?))?;
    Ok(())
}

fn mark_synced(tx: &Transaction<'_>, doc: &DocId, upto: u64) -> Result<()> {
    let id = doc.to_string();
    if upto > last_chunk(tx, &id)? {
        return Err(Error::invalid("upto", "beyond the document's last chunk"));
    }
    tx.prepare_cached("UPDATE docs SET synced_chunk = max(synced_chunk, ?2) WHERE doc_id = ?1")?
        .execute((&id, seq_to_sql(upto)?))?;
    Ok(())
}

fn remove_doc(tx: &Transaction<'_>, doc: &DocId) -> Result<()> {
    let id = doc.to_string();
    tx.prepare_cached("DELETE FROM chunks WHERE doc_id = ?1")?
        .execute([&id])?;
    tx.prepare_cached("DELETE FROM sync_states WHERE doc_id = ?1")?
        .execute([&id])?;
    tx.prepare_cached("DELETE FROM doc_snapshots WHERE doc_id = ?1")?
        .execute([&id])?;
    tx.prepare_cached("DELETE FROM docs WHERE doc_id = ?1")?
        .execute([&id])?;
    tx.prepare_cached("DELETE FROM view_rows WHERE doc_id = ?1")?
        .execute([&id])?;
    tx.prepare_cached("DELETE FROM view_docs WHERE doc_id = ?1")?
        .execute([&id])?;
    attachments::remove_doc(tx, &id)
}

fn put_view(tx: &Transaction<'_>, change: &ViewChange) -> Result<()> {
    let id = change.doc.to_string();
    if change.whole {
        tx.prepare_cached("DELETE FROM view_rows WHERE doc_id = ?1")?
            .execute([&id])?;
    }
    tx.prepare_cached(
        "INSERT INTO view_docs (doc_id, version) VALUES (?1, ?2) \
         ON CONFLICT (doc_id) DO UPDATE SET version = excluded.version",
    )?
    .execute((&id, &change.version))?;
    let mut put = tx.prepare_cached(
        "INSERT INTO view_rows (doc_id, kind, record_id, body) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (doc_id, kind, record_id) DO UPDATE SET body = excluded.body",
    )?;
    for row in &change.rows {
        put.execute((&id, row.kind.as_str(), &row.record, encode_body(&row.body)?))?;
    }
    let mut remove = tx.prepare_cached(
        "DELETE FROM view_rows WHERE doc_id = ?1 AND kind = ?2 AND record_id = ?3",
    )?;
    for (kind, record) in &change.removed {
        remove.execute((&id, kind.as_str(), record))?;
    }
    Ok(())
}

fn put_summary(tx: &Transaction<'_>, summary: &CaseSummary) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO case_summaries (case_id, reference, display_name, updated_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (case_id) DO UPDATE SET \
         reference = excluded.reference, display_name = excluded.display_name, \
         updated_at = excluded.updated_at",
    )?
    .execute((
        summary.case.to_string(),
        &summary.reference,
        &summary.display_name,
        summary
            .updated_at
            .to_rfc3339_opts(SecondsFormat::Nanos, true),
    ))?;
    Ok(())
}

fn delete_everything(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(
        "DELETE FROM chunks;
         DELETE FROM doc_snapshots;
         DELETE FROM docs;
         DELETE FROM sync_states;
         DELETE FROM case_summaries;
         DELETE FROM view_rows;
         DELETE FROM view_docs;
         DELETE FROM attachments;
         DELETE FROM attachment_refs;
         DELETE FROM alerts;
         DELETE FROM meta;",
    )?;
    Ok(())
}

fn checkpoint_truncate(conn: &Connection) -> Result<()> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
    if busy != 0 {
        tracing::warn!("store checkpoint could not complete");
    }
    Ok(())
}

// ---- conversions -------------------------------------------------------------------------

fn malformed(path: &str, reason: &str) -> Error {
    Error::Malformed {
        doc: "store".into(),
        path: path.into(),
        reason: reason.into(),
    }
}

fn doc_id_from_sql(id: &str, column: &str) -> Result<DocId> {
    id.parse()
        .map_err(|_| malformed(column, "not a document id"))
}

fn seq_from_sql(seq: i64, column: &str) -> Result<u64> {
    u64::try_from(seq).map_err(|_| malformed(column, "negative chunk number"))
}

fn seq_to_sql(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| Error::invalid("upto", "chunk number out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::DocKind;
    use crate::store::suite::{append, doc, summary};

    fn key(byte: u8) -> StoreKey {
        StoreKey::from_bytes(&[byte; 32]).unwrap_or_else(|_| unreachable!())
    }

    fn temp_store() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(&dir.path().join("store.db"), key(7)).expect("open store");
        (store, dir)
    }

    crate::store::suite::store_suite!(suite, temp_store());

    #[test]
    fn reopening_keeps_everything() -> Result<()> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("store.db");
        let a = doc(1, DocKind::Visits);
        let mut store = SqliteStore::open(&path, key(7))?;
        assert_eq!(store.path(), path);
        store.apply(vec![
            append(a, b"1", true),
            append(a, b"2", true),
            WriteOp::Compact {
                doc: a,
                snapshot: b"s".to_vec(),
                upto: 1,
            },
            WriteOp::MarkSynced { doc: a, upto: 1 },
            WriteOp::PutSummary(summary(1, "REF", "Child")),
            WriteOp::PutSyncState {
                peer: "p".into(),
                doc: a,
                state: b"st".to_vec(),
            },
            WriteOp::PutMeta {
                key: "k".into(),
                value: b"v".to_vec(),
            },
        ])?;
        let (loaded, dirty, cases) = (store.load(&a)?, store.dirty()?, store.cases()?);
        drop(store);

        let mut store = SqliteStore::open(&path, key(7))?;
        assert!(store.integrity_check()?);
        assert_eq!(store.load(&a)?, loaded);
        assert_eq!(store.docs()?, vec![a]);
        assert_eq!(store.dirty()?, dirty);
        assert_eq!(store.cases()?, cases);
        assert_eq!(cases, vec![summary(1, "REF", "Child")]);
        assert_eq!(store.sync_state("p", &a)?, Some(b"st".to_vec()));
        assert_eq!(store.meta("k")?, Some(b"v".to_vec()));
        // Numbering carries on across the reopen.
        store.apply(vec![append(a, b"3", true)])?;
        assert_eq!(store.load(&a)?.expect("stored").last_chunk, 3);
        Ok(())
    }

    #[test]
    fn connection_is_configured_for_safety() -> Result<()> {
        let (store, _dir) = temp_store();
        let conn = &store.conn;
        let text = |name| conn.pragma_query_one::<String>(None, name);
        let int = |name| conn.pragma_query_one::<i64>(None, name);
        assert_eq!(text("journal_mode")?, "wal");
        assert_eq!(int("synchronous")?, 2, "FULL");
        assert_eq!(int("secure_delete")?, 1);
        assert_eq!(int("foreign_keys")?, 1);
        assert_eq!(int("temp_store")?, 2, "MEMORY");
        assert!(!text("cipher_version")?.is_empty());
        assert_eq!(schema::version(conn)?, schema::VERSION);
        Ok(())
    }

    #[test]
    fn wrong_key_is_refused_without_touching_the_file() -> Result<()> {
        let (mut store, dir) = temp_store();
        store.apply(vec![append(doc(1, DocKind::Profile), b"x", true)])?;
        let path = store.path().to_owned();
        drop(store);
        let before = std::fs::read(&path).expect("read store");
        let err = SqliteStore::open(&path, key(8)).expect_err("wrong key");
        assert!(matches!(err, Error::WrongKey), "{err:?}");
        assert_eq!(std::fs::read(&path).expect("read store"), before);
        assert!(SqliteStore::open(&path, key(7))?.integrity_check()?);
        drop(dir);
        Ok(())
    }

    #[test]
    fn refuses_a_schema_from_a_newer_build() -> Result<()> {
        let (store, dir) = temp_store();
        store
            .conn
            .pragma_update(None, "user_version", schema::VERSION + 1)?;
        drop(store);
        let err = SqliteStore::open(&dir.path().join("store.db"), key(7)).expect_err("too new");
        assert!(matches!(err, Error::SchemaTooNew { .. }), "{err:?}");
        Ok(())
    }

    #[test]
    fn a_version_1_file_upgrades_to_the_fresh_schema() -> Result<()> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let old_path = dir.path().join("old.db");
        {
            // Write a version-1 store the way the first release did.
            let mut conn = cipher::open(&old_path, key(7), cipher::MemorySecurity::On)?;
            let tx = conn.transaction()?;
            schema::migrate_to(&tx, 1)?;
            tx.commit()?;
            assert_eq!(schema::version(&conn)?, 1);
        }
        let upgraded = SqliteStore::open(&old_path, key(7))?;
        let (fresh, _fresh_dir) = temp_store();
        assert_eq!(schema::version(&upgraded.conn)?, schema::VERSION);
        assert_eq!(
            schema::tests::schema_sql(&upgraded.conn)?,
            schema::tests::schema_sql(&fresh.conn)?
        );
        Ok(())
    }

    #[test]
    fn long_view_bodies_are_stored_deflated_and_read_back_whole() -> Result<()> {
        use crate::view::{RowKind, ViewChange, ViewRow};
        let (mut store, _dir) = temp_store();
        let a = doc(1, DocKind::Visits);
        let long = format!("\"{}\"", "the child said she felt safe ".repeat(400));
        let rows = vec![
            ViewRow {
                kind: RowKind::VisitNote,
                record: "long".into(),
                body: long.clone(),
            },
            ViewRow {
                kind: RowKind::VisitNote,
                record: "short".into(),
                body: "\"hi\"".into(),
            },
        ];
        store.apply(vec![WriteOp::PutView(ViewChange {
            doc: a,
            version: "v".into(),
            rows: rows.clone(),
            removed: vec![],
            whole: true,
        })])?;
        let stored: i64 = store.conn.query_row(
            "SELECT length(body) FROM view_rows WHERE record_id = 'long'",
            [],
            |row| row.get(0),
        )?;
        assert!(
            usize::try_from(stored).unwrap_or(usize::MAX) < long.len() / 4,
            "{stored}"
        );
        assert_eq!(
            store
                .view(&a, RowKind::VisitNote, None)?
                .expect("rows")
                .rows,
            rows
        );
        store.conn.execute(
            "UPDATE view_rows SET body = x'07' WHERE record_id = 'short'",
            [],
        )?;
        let err = store
            .view(&a, RowKind::VisitNote, None)
            .expect_err("bad tag");
        assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
        Ok(())
    }

    #[test]
    fn unreadable_rows_are_reported_as_malformed() -> Result<()> {
        let (store, _dir) = temp_store();
        store
            .conn
            .execute("INSERT INTO docs (doc_id) VALUES ('not-a-doc')", [])?;
        let err = store.docs().expect_err("bad row");
        assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
        store.conn.execute(
            "INSERT INTO case_summaries VALUES (?1, 'R', 'N', 'yesterday')",
            [CaseId::from_bytes([1; 16]).to_string()],
        )?;
        let err = store.cases().expect_err("bad time");
        assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
        Ok(())
    }
}

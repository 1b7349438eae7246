//! The SQLite side of attachments: images kept beside the documents that refer to them
//! (`attachments`), and each document's current reference (`attachment_refs`). Reads take a
//! `Connection`, writes a `Transaction`; [`super::SqliteStore`] commits and, after a delete,
//! folds the WAL into the file so no copy of a deleted image is left in it.

use rusqlite::{Connection, OptionalExtension, Transaction};

use super::Attachment;
use crate::doc::DocId;
use crate::error::{Error, Result};
use crate::model::PhotoRef;

fn malformed(path: &str, reason: &str) -> Error {
    Error::Malformed {
        doc: "store".into(),
        path: path.into(),
        reason: reason.into(),
    }
}

fn doc_id(id: &str) -> Result<DocId> {
    id.parse()
        .map_err(|_| malformed("attachments.doc_id", "not a document id"))
}

pub(super) fn attachment(conn: &Connection, id: &str) -> Result<Option<Attachment>> {
    let row = conn
        .prepare_cached(
            "SELECT doc_id, media_type, sha256, bytes, pending_upload FROM attachments \
             WHERE attachment_id = ?1",
        )?
        .query_row([id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Vec<u8>>(3)?,
                row.get::<_, bool>(4)?,
            ))
        })
        .optional()?;
    row.map(|(doc, media_type, sha256, bytes, pending_upload)| {
        Ok(Attachment {
            id: id.to_owned(),
            doc: doc_id(&doc)?,
            media_type,
            sha256,
            bytes,
            pending_upload,
        })
    })
    .transpose()
}

fn reference(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, PhotoRef, i64)> {
    Ok((
        row.get::<_, String>(0)?,
        PhotoRef {
            attachment_id: row.get(1)?,
            sha256: row.get(2)?,
            size: 0,
            media_type: row.get(4)?,
        },
        row.get::<_, i64>(3)?,
    ))
}

fn with_size((doc, mut photo, size): (String, PhotoRef, i64)) -> Result<(DocId, PhotoRef)> {
    photo.size =
        u64::try_from(size).map_err(|_| malformed("attachment_refs.size", "negative size"))?;
    Ok((doc_id(&doc)?, photo))
}

pub(super) fn attachment_ref(conn: &Connection, doc: &DocId) -> Result<Option<PhotoRef>> {
    let row = conn
        .prepare_cached(
            "SELECT doc_id, attachment_id, sha256, size, media_type FROM attachment_refs \
             WHERE doc_id = ?1",
        )?
        .query_row([doc.to_string()], reference)
        .optional()?;
    Ok(row.map(with_size).transpose()?.map(|(_, photo)| photo))
}

pub(super) fn pending_uploads(conn: &Connection) -> Result<Vec<(DocId, String)>> {
    let rows = conn
        .prepare_cached(
            "SELECT doc_id, attachment_id FROM attachments WHERE pending_upload = 1 \
             ORDER BY attachment_id",
        )?
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(doc, id)| Ok((doc_id(&doc)?, id)))
        .collect()
}

pub(super) fn missing_attachments(conn: &Connection) -> Result<Vec<(DocId, PhotoRef)>> {
    let rows = conn
        .prepare_cached(
            "SELECT r.doc_id, r.attachment_id, r.sha256, r.size, r.media_type \
             FROM attachment_refs r LEFT JOIN attachments a \
             ON a.attachment_id = r.attachment_id \
             WHERE a.attachment_id IS NULL ORDER BY r.doc_id",
        )?
        .query_map([], reference)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(with_size).collect()
}

pub(super) fn put(tx: &Transaction<'_>, attachment: &Attachment) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO attachments (attachment_id, doc_id, media_type, sha256, bytes, \
         pending_upload) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (attachment_id) DO UPDATE \
         SET doc_id = excluded.doc_id, media_type = excluded.media_type, \
         sha256 = excluded.sha256, bytes = excluded.bytes, \
         pending_upload = excluded.pending_upload",
    )?
    .execute((
        &attachment.id,
        attachment.doc.to_string(),
        &attachment.media_type,
        &attachment.sha256,
        &attachment.bytes,
        attachment.pending_upload,
    ))?;
    Ok(())
}

pub(super) fn mark_uploaded(tx: &Transaction<'_>, id: &str) -> Result<()> {
    tx.prepare_cached("UPDATE attachments SET pending_upload = 0 WHERE attachment_id = ?1")?
        .execute([id])?;
    Ok(())
}

pub(super) fn set_ref(
    tx: &Transaction<'_>,
    doc: &DocId,
    reference: Option<&PhotoRef>,
) -> Result<()> {
    let id = doc.to_string();
    match reference {
        Some(photo) => {
            let size =
                i64::try_from(photo.size).map_err(|_| Error::invalid("size", "out of range"))?;
            tx.prepare_cached(
                "INSERT INTO attachment_refs (doc_id, attachment_id, sha256, size, media_type) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (doc_id) DO UPDATE SET \
                 attachment_id = excluded.attachment_id, sha256 = excluded.sha256, \
                 size = excluded.size, media_type = excluded.media_type",
            )?
            .execute((
                &id,
                &photo.attachment_id,
                &photo.sha256,
                size,
                &photo.media_type,
            ))?;
            tx.prepare_cached("DELETE FROM attachments WHERE doc_id = ?1 AND attachment_id != ?2")?
                .execute((&id, &photo.attachment_id))?;
        }
        None => remove_doc(tx, &id)?,
    }
    Ok(())
}

/// Drop a document's attachments and reference (it was purged, or refers to nothing now).
pub(super) fn remove_doc(tx: &Transaction<'_>, doc: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM attachments WHERE doc_id = ?1")?
        .execute([doc])?;
    tx.prepare_cached("DELETE FROM attachment_refs WHERE doc_id = ?1")?
        .execute([doc])?;
    Ok(())
}

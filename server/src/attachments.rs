//! Attachments (the missing-person photo): images kept beside the documents that refer to
//! them, outside the automerge history, in the SQLCipher database. Access to an image is
//! exactly access to the document that refers to it ([`crate::directory::permissions`]):
//! `POST /v1/attachments/upload` takes an image only from a writer of that document and only
//! if the document as stored refers to exactly these bytes; `POST /v1/attachments/fetch` gives
//! it to a reader of that document. Both are audited, and so is every refusal.
//!
//! The reference is read from the document the server stored (by the sync's automerge work,
//! [`record_ref`] in the same transaction), never from a claim in a request. An image the
//! stored document no longer refers to (a replaced photo) is deleted by [`collect`] once the
//! change is committed, and the WAL is folded into the file so no copy of it is left there.

use casebook_core::doc::{DocId, DocKind};
use casebook_core::model::{PhotoRef, is_attachment_id, validate_photo};
use casebook_core::sync::wire::{
    AttachmentData, AttachmentFetch, AttachmentStored, AttachmentUpload, PROTOCOL_VERSION,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{self, Event};
use crate::auth::{self, Caller};
use crate::error::{Error, Result};
use crate::params;
use crate::sql::{Conn, OptionalExtension, Tx};
use crate::state::AppState;

fn event<'a>(name: &'a str, caller: &Caller, doc: &DocId, detail: serde_json::Value) -> Event<'a> {
    Event {
        event: name,
        actor_user: Some(caller.user.id.clone()),
        actor_device: Some(caller.device.to_string()),
        case_id: Some(doc.case.to_string()),
        doc_id: Some(doc.to_string()),
        detail,
        ..Event::default()
    }
}

/// Refuse, with an audit row (committed: the refusal is returned inside `Ok`), a request for an image of a document the caller may not
/// read (or, for an upload, write).
fn deny(tx: &Tx<'_>, caller: &Caller, doc: &DocId, now: i64, what: &str) -> Result<Error> {
    audit::append(
        tx,
        now,
        event(
            "denied",
            caller,
            doc,
            json!({ "reason": "forbidden", "attachment": what }),
        ),
    )?;
    Ok(Error::Forbidden("no access to this document"))
}

/// The reference the stored `doc` holds now.
pub fn stored_ref(conn: Conn<'_>, doc: &DocId) -> Result<Option<PhotoRef>> {
    let row = conn
        .prepare_cached(
            "SELECT attachment_id, sha256, size, media_type FROM attachment_refs \
             WHERE doc_id = ?1",
        )?
        .query_row([doc.to_string()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
            ))
        })
        .optional()?;
    row.map(|(attachment_id, sha256, size, media_type)| {
        Ok(PhotoRef {
            attachment_id,
            sha256,
            size: u64::try_from(size).map_err(|_| Error::Corrupt("attachment size".into()))?,
            media_type,
        })
    })
    .transpose()
}

/// Record the reference of a `safety` document just stored (`None`: it refers to nothing).
/// Called in the transaction that stores the document.
pub fn record_ref(tx: &Tx<'_>, doc: &DocId, photo: Option<&PhotoRef>) -> Result<()> {
    if doc.kind != DocKind::Safety {
        return Ok(());
    }
    match photo {
        Some(photo) => {
            tx.prepare_cached(
                "INSERT INTO attachment_refs (doc_id, attachment_id, sha256, size, media_type) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (doc_id) DO UPDATE SET \
                 attachment_id = excluded.attachment_id, sha256 = excluded.sha256, \
                 size = excluded.size, media_type = excluded.media_type",
            )?
            .execute(params![
                doc.to_string(),
                photo.attachment_id,
                photo.sha256,
                i64::try_from(photo.size).map_err(|_| Error::Corrupt("size".into()))?,
                photo.media_type
            ])?;
        }
        None => {
            tx.prepare_cached("DELETE FROM attachment_refs WHERE doc_id = ?1")?
                .execute([doc.to_string()])?;
        }
    }
    Ok(())
}

/// Delete the images of `docs` their stored document no longer refers to, auditing each
/// (`attachment_deleted`). Returns how many were deleted.
pub fn collect(tx: &Tx<'_>, docs: &[DocId], now: i64) -> Result<usize> {
    let mut deleted = 0;
    for doc in docs.iter().filter(|d| d.kind == DocKind::Safety) {
        let keep = stored_ref(**tx, doc)?.map(|r| r.attachment_id);
        let ids: Vec<String> = tx
            .prepare_cached("SELECT attachment_id FROM attachments WHERE doc_id = ?1")?
            .query_map([doc.to_string()], |row| row.get(0))?
            .collect::<crate::sql::Result<_>>()?;
        for id in ids.into_iter().filter(|id| Some(id) != keep.as_ref()) {
            tx.prepare_cached("DELETE FROM attachments WHERE attachment_id = ?1")?
                .execute([&id])?;
            audit::append(
                tx,
                now,
                Event {
                    event: "attachment_deleted",
                    case_id: Some(doc.case.to_string()),
                    doc_id: Some(doc.to_string()),
                    subject: Some(id),
                    detail: json!({ "reason": "no_longer_referenced" }),
                    ..Event::default()
                },
            )?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// After the sync of `written` documents: delete the images they no longer refer to, and if
/// any went, fold the WAL into the (`secure_delete`d) file.
pub async fn collect_after_sync(state: &AppState, written: Vec<DocId>) -> Result<()> {
    let written: Vec<DocId> = written
        .into_iter()
        .filter(|d| d.kind == DocKind::Safety)
        .collect();
    if written.is_empty() {
        return Ok(());
    }
    let docs = written.clone();
    if !state.db.read(move |c| any_unreferenced(c, &docs)).await? {
        return Ok(());
    }
    let now = state.clock.now();
    let deleted = state.db.write(move |tx| collect(tx, &written, now)).await?;
    if deleted > 0 {
        state.db.checkpoint().await?;
    }
    Ok(())
}

/// Whether any of `docs` has an image its stored document no longer refers to.
fn any_unreferenced(conn: Conn<'_>, docs: &[DocId]) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM attachments a LEFT JOIN attachment_refs r \
         ON r.doc_id = a.doc_id WHERE a.doc_id = ?1 \
         AND (r.attachment_id IS NULL OR r.attachment_id != a.attachment_id))",
    )?;
    for doc in docs {
        if stmt.query_row([doc.to_string()], |row| row.get::<_, bool>(0))? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn check_upload(upload: &AttachmentUpload) -> Result<PhotoRef> {
    if upload.v != PROTOCOL_VERSION {
        return Err(Error::UnsupportedVersion(upload.v));
    }
    if !is_attachment_id(&upload.attachment_id) {
        return Err(Error::BadRequest(
            "attachment_id is not an attachment id".into(),
        ));
    }
    let media_type =
        validate_photo("data", &upload.data).map_err(|e| Error::BadRequest(e.to_string()))?;
    if media_type != upload.media_type {
        return Err(Error::BadRequest(
            "media_type does not match the image".into(),
        ));
    }
    Ok(PhotoRef {
        attachment_id: upload.attachment_id.clone(),
        sha256: hex::encode(Sha256::digest(&upload.data)),
        size: u64::try_from(upload.data.len()).unwrap_or(u64::MAX),
        media_type: media_type.to_owned(),
    })
}

/// `POST /v1/attachments/upload`.
pub async fn upload(
    state: &AppState,
    caller: Caller,
    upload: AttachmentUpload,
) -> Result<AttachmentStored> {
    let photo = check_upload(&upload)?;
    let now = state.clock.now();
    let doc = upload.doc;
    state
        .db
        .write(move |tx| {
            let caller = auth::recheck(**tx, &caller, now)?;
            let perms = crate::directory::permissions(**tx, &caller.user)?;
            if !perms.access(&doc).can_write() {
                return Ok(Err(deny(tx, &caller, &doc, now, &photo.attachment_id)?));
            }
            if stored_ref(**tx, &doc)?.as_ref() != Some(&photo) {
                audit::append(
                    tx,
                    now,
                    event(
                        "attachment_refused",
                        &caller,
                        &doc,
                        json!({ "reason": "not_referenced", "bytes": photo.size }),
                    ),
                )?;
                return Ok(Err(Error::Conflict(
                    "the stored document does not refer to this image",
                )));
            }
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO attachments (attachment_id, doc_id, case_id, media_type, \
                     sha256, size, bytes, uploaded_by, uploaded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                     ON CONFLICT (attachment_id) DO NOTHING",
                )?
                .execute(params![
                    photo.attachment_id,
                    doc.to_string(),
                    doc.case.to_string(),
                    photo.media_type,
                    photo.sha256,
                    i64::try_from(photo.size).map_err(|_| Error::Corrupt("size".into()))?,
                    tx.seal(
                        &row_name(&doc.to_string(), &photo.attachment_id),
                        upload.data.to_vec(),
                    ),
                    caller.device.to_string(),
                    now
                ])?;
            audit::append(
                tx,
                now,
                Event {
                    subject: Some(photo.attachment_id.clone()),
                    ..event(
                        "attachment_write",
                        &caller,
                        &doc,
                        json!({ "bytes": photo.size, "already_held": inserted == 0 }),
                    )
                },
            )?;
            Ok(Ok(AttachmentStored {
                v: PROTOCOL_VERSION,
                attachment_id: photo.attachment_id,
            }))
        })
        .await?
}

/// `POST /v1/attachments/fetch`.
pub async fn fetch(
    state: &AppState,
    caller: Caller,
    fetch: AttachmentFetch,
) -> Result<AttachmentData> {
    if fetch.v != PROTOCOL_VERSION {
        return Err(Error::UnsupportedVersion(fetch.v));
    }
    if !is_attachment_id(&fetch.attachment_id) {
        return Err(Error::BadRequest(
            "attachment_id is not an attachment id".into(),
        ));
    }
    let now = state.clock.now();
    let doc = fetch.doc;
    state
        .db
        .write(move |tx| {
            let caller = auth::recheck(**tx, &caller, now)?;
            let perms = crate::directory::permissions(**tx, &caller.user)?;
            if !perms.access(&doc).can_read() {
                return Ok(Err(deny(tx, &caller, &doc, now, &fetch.attachment_id)?));
            }
            let row = tx
                .prepare_cached(
                    "SELECT media_type, bytes FROM attachments \
                     WHERE attachment_id = ?1 AND doc_id = ?2",
                )?
                .query_row(params![fetch.attachment_id, doc.to_string()], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
                })
                .optional()?;
            let Some((media_type, data)) = row else {
                return Ok(Err(Error::NotFound("no such attachment")));
            };
            let data = tx.unseal(&row_name(&doc.to_string(), &fetch.attachment_id), data)?;
            audit::append(
                tx,
                now,
                Event {
                    subject: Some(fetch.attachment_id.clone()),
                    ..event(
                        "attachment_read",
                        &caller,
                        &doc,
                        json!({ "bytes": data.len() }),
                    )
                },
            )?;
            Ok(Ok(AttachmentData {
                v: PROTOCOL_VERSION,
                doc,
                attachment_id: fetch.attachment_id,
                media_type,
                data,
            }))
        })
        .await?
}

/// The row name an attachment's bytes are sealed for (PostgreSQL; see
/// [`crate::sql::Conn::seal`]): its document and its id, so that a sealed photo moved to a
/// row of another document (one the reader may see) does not open there.
pub(crate) fn row_name(doc_id: &str, attachment_id: &str) -> String {
    format!("attachments/{doc_id}/{attachment_id}")
}

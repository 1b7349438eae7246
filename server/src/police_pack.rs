//! The police pack made by the server (`POST /v1/cases/{case}/police-pack`, and the console
//! through [`for_user`]): the same PDF a device makes offline ([`casebook_pack`]), from the
//! `safety` document the server stores, the case profile where the person may read it, and
//! the photo from the attachment store when held.
//!
//! Who may: exactly who may read the case's `safety` document under [`crate::access`] (the
//! same decision as the sync's). Anyone else is refused `403` and the refusal audited
//! (`denied`, reason `police_pack`). Every pack made is audited (`police_pack_generated`, with
//! the case, the episode and the PDF's size; no content). The pack is for an open episode:
//! an unknown episode is `404`, an ended one `409`, both naming the episode.

use casebook_core::doc::{CaseDoc, DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};
use casebook_pack::{Generated, PackError, SafetyRecords, render_police_pack};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::access::Role;
use crate::audit::{self, Event};
use crate::auth::{self, Caller};
use crate::db::Db;
use crate::directory::{self, User};
use crate::error::{Error, Result};
use crate::params;
use crate::sql::{Conn, OptionalExtension};
use crate::state::AppState;

/// The body of `POST /v1/cases/{case}/police-pack`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackRequest {
    /// The open missing episode the pack is for (its entry id).
    pub episode: String,
}

/// `POST /v1/cases/{case}/police-pack`: the pack for `caller`'s user, as PDF bytes.
pub async fn for_device(
    state: &AppState,
    caller: Caller,
    case: &str,
    req: &PackRequest,
) -> Result<Vec<u8>> {
    let case: CaseId = case
        .parse()
        .map_err(|_| Error::BadRequest("case is not a case id".into()))?;
    let episode: EntryId = req
        .episode
        .parse()
        .map_err(|_| Error::BadRequest("episode is not an episode id".into()))?;
    generate(
        &state.db,
        Who::Device(caller),
        case,
        episode,
        state.clock.now(),
    )
    .await
}

/// The pack of `case`'s open `episode` for the person `user` (the console's signed-in user),
/// as PDF bytes, at `now` (Unix seconds). Checked, audited and refused exactly as the
/// endpoint is: [`Error::Forbidden`] (audited) if `user` may not read the case's `safety`
/// document, [`Error::NotFound`] for an episode the case does not record, [`Error::Conflict`]
/// for one that has ended.
pub async fn for_user(
    db: &Db,
    user: &str,
    case: CaseId,
    episode: EntryId,
    now: i64,
) -> Result<Vec<u8>> {
    generate(db, Who::User(user.to_owned()), case, episode, now).await
}

/// Who asks: a device's session (checked again in the read) or a user by id.
#[derive(Debug, Clone)]
enum Who {
    Device(Caller),
    User(String),
}

/// What the read found.
#[derive(Debug)]
enum Found {
    /// The user may not read the case's `safety` document.
    Denied {
        user: String,
        device: Option<String>,
    },
    /// What the pack is made from.
    Held(Box<Inputs>),
}

#[derive(Debug)]
struct Inputs {
    user: User,
    device: Option<String>,
    safety: Vec<u8>,
    profile: Option<Vec<u8>>,
    photo: Option<Vec<u8>>,
}

async fn generate(db: &Db, who: Who, case: CaseId, episode: EntryId, now: i64) -> Result<Vec<u8>> {
    let safety = DocId::new(case, DocKind::Safety);
    let found = db.read(move |conn| read(conn, &who, safety, now)).await?;
    let inputs = match found {
        Found::Held(inputs) => inputs,
        Found::Denied { user, device } => {
            db.write(move |tx| {
                audit::append(
                    tx,
                    now,
                    Event {
                        event: "denied",
                        actor_user: Some(user),
                        actor_device: device,
                        case_id: Some(case.to_string()),
                        doc_id: Some(safety.to_string()),
                        subject: Some(episode.to_string()),
                        detail: json!({ "reason": "police_pack" }),
                    },
                )
            })
            .await?;
            return Err(Error::Forbidden("no access to this case's safety document"));
        }
    };
    let Inputs {
        user,
        device,
        safety: safety_bytes,
        profile,
        photo,
    } = *inputs;
    let had_photo = photo.is_some();
    let role = user.role;
    let pdf = tokio::task::spawn_blocking(move || {
        render(
            safety,
            &safety_bytes,
            profile.as_deref(),
            photo,
            episode,
            role,
            now,
        )
    })
    .await??;
    let bytes = pdf.len();
    db.write(move |tx| {
        audit::append(
            tx,
            now,
            Event {
                event: "police_pack_generated",
                actor_user: Some(user.id),
                actor_device: device,
                case_id: Some(case.to_string()),
                doc_id: Some(safety.to_string()),
                subject: Some(episode.to_string()),
                detail: json!({ "episode": episode.to_string(), "bytes": bytes, "photo": had_photo }),
            },
        )
    })
    .await?;
    Ok(pdf)
}

/// Who the user is, whether they may read `safety`, and the stored bytes the pack needs.
fn read(conn: Conn<'_>, who: &Who, safety: DocId, now: i64) -> Result<Found> {
    let (user, device) = match who {
        Who::Device(caller) => {
            let caller = auth::recheck(conn, caller, now)?;
            (caller.user, Some(caller.device.to_string()))
        }
        Who::User(id) => {
            if auth::user_disabled(conn, id)? {
                return Err(Error::Forbidden("this user is disabled"));
            }
            let user = directory::user(conn, id)?.ok_or(Error::Unauthenticated("unknown user"))?;
            (user, None)
        }
    };
    let perms = directory::permissions(conn, &user)?;
    if !perms.access(&safety).can_read() {
        return Ok(Found::Denied {
            user: user.id,
            device,
        });
    }
    let Some(safety_bytes) = stored(conn, &safety)? else {
        return Err(Error::NotFound("the case's safety document is not held"));
    };
    let profile_doc = DocId::new(safety.case, DocKind::Profile);
    let profile = if perms.access(&profile_doc).can_read() {
        stored(conn, &profile_doc)?
    } else {
        None
    };
    let photo = match crate::attachments::stored_ref(conn, &safety)? {
        Some(r) => conn
            .prepare_cached(
                "SELECT bytes FROM attachments WHERE attachment_id = ?1 AND doc_id = ?2",
            )?
            .query_row(params![r.attachment_id, safety.to_string()], |row| {
                conn.unseal(
                    &crate::attachments::row_name(&safety.to_string(), &r.attachment_id),
                    row.get::<_, Vec<u8>>(0)?,
                )
            })
            .optional()?,
        None => None,
    };
    Ok(Found::Held(Box::new(Inputs {
        user,
        device,
        safety: safety_bytes,
        profile,
        photo,
    })))
}

/// The stored save of `doc`.
fn stored(conn: Conn<'_>, doc: &DocId) -> Result<Option<Vec<u8>>> {
    Ok(crate::db::docs::read_bytes(conn, &doc.to_string())?)
}

/// The PDF, from the stored saves (pure, CPU-bound: run on the blocking pool).
fn render(
    safety: DocId,
    safety_bytes: &[u8],
    profile: Option<&[u8]>,
    photo: Option<Vec<u8>>,
    episode: EntryId,
    role: Role,
    now: i64,
) -> Result<Vec<u8>> {
    let corrupt = |what: &str| Error::Corrupt(format!("police pack: {what}"));
    let doc = CaseDoc::load(safety, Some(safety_bytes), &[]).map_err(|_| corrupt("safety"))?;
    let records = SafetyRecords::from_doc(&doc).map_err(|_| corrupt("safety records"))?;
    match records.episode(episode) {
        None => return Err(Error::NotFound("episode: no such episode in this case")),
        Some(e) if !e.is_open() => {
            return Err(Error::Conflict(
                "episode: this episode has ended; the police pack is for an open episode",
            ));
        }
        Some(_) => {}
    }
    // The case profile, for the child's name where the missing-person profile has none; a
    // profile that does not read only leaves the pack without it.
    let child = profile
        .and_then(|bytes| {
            CaseDoc::load(DocId::new(safety.case, DocKind::Profile), Some(bytes), &[]).ok()
        })
        .and_then(|doc| doc.profile().ok());
    let at: DateTime<Utc> = DateTime::from_timestamp(now, 0).ok_or_else(|| corrupt("clock"))?;
    let by = format!(
        "the Casebook server, for a {}",
        role.as_str().replace('_', " ")
    );
    let generated = Generated {
        at: at.with_timezone(&chrono_tz::Europe::London).fixed_offset(),
        by: &by,
    };
    let pack = records
        .police_pack(Some(episode), child.as_ref(), generated, photo)
        .map_err(pack_error)?;
    render_police_pack(&pack).map_err(pack_error)
}

/// A pack that cannot be made from what the server stored is the server's failure (the
/// photo was checked when uploaded), never the caller's.
fn pack_error(e: PackError) -> Error {
    Error::Corrupt(format!("police pack: {e}"))
}

//! The console's side of review: a submitted note read for review, and the supervisor's
//! sign-off or return written into the `visits` document by the server, as the supervisor's
//! change with their browser (an enrolled device of theirs) as the device and automerge
//! actor. The change passes the same write rules as a synced one and is stored like one (a
//! new `seq`, so it reaches the author's phone on its next sync; audited `write`; indexed).

use automerge::Automerge;
use casebook_core::doc::{Author, CaseDoc, DocId, DocKind, Edit};
use casebook_core::ids::{CaseId, EntryId, UserId};
use casebook_core::model::{ReviewStatus, VisitNote};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::Caller;
use crate::db;
use crate::directory::{self, Permissions};
use crate::error::{Error, Result};
use crate::params;
use crate::sql::Tx;
use crate::state::AppState;

/// Longest review comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 4000;

/// What a supervisor decides on a submitted note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Sign it off.
    SignOff,
    /// Return it to the author (a comment is required).
    Return,
}

impl Decision {
    fn status(self) -> ReviewStatus {
        match self {
            Decision::SignOff => ReviewStatus::SignedOff,
            Decision::Return => ReviewStatus::Returned,
        }
    }
}

/// A note as the review page shows it, with where it stands.
#[derive(Debug, Clone)]
pub struct NoteForReview {
    /// The note.
    pub note: VisitNote,
    /// Its case's reference (empty if unknown).
    pub case_reference: String,
    /// The author's name, from the index (empty if unknown).
    pub author_name: String,
}

fn now_utc(secs: i64) -> Result<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .ok_or_else(|| Error::Corrupt("clock out of range".into()))
}

/// The supervisor check shared by reading and deciding: `caller` supervises the team of
/// `doc`'s case, or the refusal is audited and `Err(Forbidden)` returned from the transaction
/// as `Ok(Err)` so the audit row is kept.
fn supervises(
    tx: &Tx<'_>,
    caller: &Caller,
    doc: &DocId,
    now: i64,
) -> Result<std::result::Result<Permissions, Error>> {
    let perms = directory::permissions(**tx, &caller.user)?;
    if perms.supervises(doc) && perms.access(doc).can_write() {
        return Ok(Ok(perms));
    }
    crate::person_edits::audit_denied(tx, caller, doc, json!({ "reason": "review" }), now)?;
    Ok(Err(Error::Forbidden(
        "only a supervisor of the case's team reviews its notes",
    )))
}

fn stored(tx: &Tx<'_>, doc: &DocId) -> Result<Option<Vec<u8>>> {
    Ok(db::docs::read_bytes(**tx, &doc.to_string())?)
}

fn load(doc: &DocId, bytes: &[u8]) -> Result<CaseDoc> {
    CaseDoc::load(*doc, Some(bytes), &[])
        .map_err(|_| Error::Corrupt("stored visits document".into()))
}

fn read_note(loaded: &CaseDoc, note: EntryId) -> Result<VisitNote> {
    match loaded.visit_note(note) {
        Ok(n) => Ok(n),
        Err(casebook_core::Error::NoSuchEntry { .. }) => Err(Error::NotFound("no such note")),
        Err(_) => Err(Error::Corrupt("a stored visit note".into())),
    }
}

/// `note` of `case` for `caller` (a supervisor of the case's team) to review, audited as a
/// read (`read`, view `review_note`).
pub async fn note_for_review(
    state: &AppState,
    caller: Caller,
    case: CaseId,
    note: EntryId,
) -> Result<NoteForReview> {
    let now = state.clock.now();
    let doc = DocId::new(case, DocKind::Visits);
    state
        .db
        .write(move |tx| {
            if let Err(e) = supervises(tx, &caller, &doc, now)? {
                return Ok(Err(e));
            }
            let Some(bytes) = stored(tx, &doc)? else {
                return Ok(Err(Error::NotFound("no such note")));
            };
            let loaded = load(&doc, &bytes)?;
            let note_read = match read_note(&loaded, note) {
                Ok(n) => n,
                Err(e @ Error::NotFound(_)) => return Ok(Err(e)),
                Err(e) => return Err(e),
            };
            let case_reference = super::case_reference(**tx, &case.to_string())?;
            let author_name: String = tx.query_row(
                "SELECT IFNULL((SELECT u.name FROM review_index r JOIN users u ON u.id = r.author_user
                                WHERE r.case_id = ?1 AND r.note_id = ?2), '')",
                params![case.to_string(), note.to_string()],
                |r| r.get(0),
            )?;
            audit::append(
                tx,
                now,
                Event {
                    event: "read",
                    actor_user: Some(caller.user.id.clone()),
                    actor_device: Some(caller.device.to_string()),
                    case_id: Some(case.to_string()),
                    doc_id: Some(doc.to_string()),
                    detail: json!({ "view": "review_note", "note": note.to_string() }),
                    ..Event::default()
                },
            )?;
            Ok(Ok(NoteForReview {
                note: note_read,
                case_reference,
                author_name,
            }))
        })
        .await?
}

/// Sign off or return `note` of `case` as `caller` (a supervisor of the case's team, signed
/// in from an enrolled browser), with `comment` (required to return). Bad input names the
/// field and writes nothing; a note not awaiting review is a conflict.
pub async fn decide(
    state: &AppState,
    caller: Caller,
    case: CaseId,
    note: EntryId,
    decision: Decision,
    comment: &str,
) -> Result<()> {
    let comment = comment.trim().to_owned();
    if decision == Decision::Return && comment.is_empty() {
        return Err(Error::BadRequest(
            "comment: say what the author should change to return a note".into(),
        ));
    }
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(Error::BadRequest(format!(
            "comment: at most {MAX_COMMENT_CHARS} characters"
        )));
    }
    let user: UserId = caller
        .user
        .id
        .parse()
        .map_err(|_| Error::Corrupt("user id".into()))?;
    let now = state.clock.now();
    let at = now_utc(now)?;
    let doc = DocId::new(case, DocKind::Visits);
    state
        .db
        .write(move |tx| {
            let perms = match supervises(tx, &caller, &doc, now)? {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            let Some(bytes) = stored(tx, &doc)? else {
                return Ok(Err(Error::NotFound("no such note")));
            };
            let mut loaded = load(&doc, &bytes)?;
            match read_note(&loaded, note) {
                Ok(n) if n.review.status == ReviewStatus::Submitted => {}
                Ok(_) => return Ok(Err(Error::Conflict("this note is not awaiting review"))),
                Err(e @ Error::NotFound(_)) => return Ok(Err(e)),
                Err(e) => return Err(e),
            }
            let edit = Edit::new(
                Author {
                    user,
                    device: caller.device,
                },
                at,
            );
            loaded
                .review_visit_note(&edit, note, decision.status(), &comment)
                .map_err(|_| Error::Corrupt("a stored visit note".into()))?;
            let saved = loaded.save();
            let before = Automerge::load(&bytes)
                .map_err(|_| Error::Corrupt("stored visits document".into()))?;
            let after = Automerge::load(&saved)
                .map_err(|_| Error::Corrupt("reviewed visits document".into()))?;
            let review = super::input_in(&doc, Some(&before), &after);
            let refusal = crate::write_rules::refusal(&doc, &before, &after, &caller)
                .or_else(|| super::refusal(&perms, &doc, &review));
            if let Some(detail) = refusal {
                crate::person_edits::audit_denied(tx, &caller, &doc, detail, now)?;
                return Ok(Err(Error::Forbidden("this review is not allowed")));
            }
            store(tx, &caller, &doc, &saved, now)?;
            crate::person_edits::index_stored(tx, &caller, &doc, &before, &after, now)?;
            Ok(Ok(()))
        })
        .await?
}

/// Store `saved` as `doc`'s new save under a fresh `seq` (so every device that holds it is
/// offered the change), audited `write` as the console's.
fn store(tx: &Tx<'_>, caller: &Caller, doc: &DocId, saved: &[u8], now: i64) -> Result<()> {
    let seq = i64::try_from(db::next_seq(tx)?).map_err(|_| Error::Corrupt("sequence".into()))?;
    tx.execute(
        "INSERT INTO docs (doc_id, case_id, kind, seq, bytes) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(doc_id) DO UPDATE SET seq = excluded.seq, bytes = excluded.bytes",
        params![
            doc.to_string(),
            doc.case.to_string(),
            doc.kind.as_str(),
            seq,
            db::docs::sealed(**tx, &doc.to_string(), saved)
        ],
    )?;
    audit::append(
        tx,
        now,
        Event {
            event: "write",
            actor_user: Some(caller.user.id.clone()),
            actor_device: Some(caller.device.to_string()),
            case_id: Some(doc.case.to_string()),
            doc_id: Some(doc.to_string()),
            detail: json!({ "via": "console", "doc_bytes": saved.len() }),
            ..Event::default()
        },
    )?;
    Ok(())
}

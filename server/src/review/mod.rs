//! Supervisor review on the server: the review index, the review queue and the console's
//! sign-off.
//!
//! - [`input_in`] reads, from the documents the sync exchange already holds in memory, what a
//!   stored `visits` document changes in the index (each note's visit time and review, never
//!   its text) and whether it writes a supervisor's decision; for a `profile` document, the
//!   case reference. [`record`] writes that in the same transaction that stores the
//!   document. No document is parsed on a request.
//! - A change that signs off or returns a note is refused (audited `denied`, reason
//!   `write_rule`) unless its user supervises the case's team: the core's write rules
//!   already demand a supervisor writing in their own name from their own enrolled device
//!   ([`casebook_core::model::review_refusal`]); [`refusal`] adds the team.
//! - [`queue`]: `GET /v1/review-queue`, every submitted note across the cases of a
//!   supervisor's teams, oldest submission first, paged.
//! - [`decide`]: the console's sign-off or return, written into the `visits` document as the
//!   supervisor's change with their browser as the device, stored like a synced change.

mod decide;
mod queue;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{Automerge, ROOT, ReadDoc, Value};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{NoteReview, ReviewStatus, reviews_in, writes_review};
use serde_json::{Value as Json, json};

use crate::audit::{self, Event};
use crate::auth::Caller;
use crate::directory::Permissions;
use crate::error::Result;
use crate::params;
use crate::sql::{Conn, OptionalExtension, Tx, Value as SqlValue};

pub use decide::{Decision, MAX_COMMENT_CHARS, NoteForReview, decide, note_for_review};
pub use queue::{QueueEntry, QueueQuery, ReviewQueue, list, queue};

/// The row name a case's reference is sealed under on PostgreSQL ([`Conn::seal_text`]): a
/// worker types the reference, and some local authorities put a child's initials in it.
pub fn reference_row(case: &str) -> String {
    format!("case_references/{case}")
}

/// The reference of `case` as the review index keeps it (empty if its profile has not
/// reached the server).
pub fn case_reference(conn: Conn<'_>, case: &str) -> Result<String> {
    let stored: Option<SqlValue> = conn
        .prepare_cached("SELECT reference FROM case_references WHERE case_id = ?1")?
        .query_row([case], |r| r.get(0))
        .optional()?;
    stored.map_or(Ok(String::new()), |v| unseal_reference(conn, case, v))
}

/// A `case_references.reference` value read in a query of its own, opened.
pub(crate) fn unseal_reference(conn: Conn<'_>, case: &str, stored: SqlValue) -> Result<String> {
    Ok(conn.unseal_text(&reference_row(case), stored)?)
}

/// What storing a document changes in the review index. Pure.
#[derive(Debug, Default)]
pub struct ReviewInput {
    /// The notes whose visit time or review is new or changed, as now stored.
    pub notes: Vec<(EntryId, NoteReview)>,
    /// The notes whose change signs them off or returns them (a supervisor's decision).
    pub decided: Vec<EntryId>,
    /// For a `profile` document: the case reference.
    pub reference: Option<String>,
}

/// The wire name of a review status, as the index stores it.
pub fn status_name(status: ReviewStatus) -> &'static str {
    match status {
        ReviewStatus::Draft => "draft",
        ReviewStatus::Submitted => "submitted",
        ReviewStatus::SignedOff => "signed_off",
        ReviewStatus::Returned => "returned",
    }
}

/// What storing `after` (with `before` the stored document, `None` if new) means for the
/// index, read from the documents in memory.
pub fn input_in(doc: &DocId, before: Option<&Automerge>, after: &Automerge) -> ReviewInput {
    match doc.kind {
        DocKind::Visits => {
            let read = |d: &Automerge| {
                catch_unwind(AssertUnwindSafe(|| reviews_in(*doc, d).ok()))
                    .ok()
                    .flatten()
            };
            let Some(now) = read(after) else {
                return ReviewInput::default();
            };
            let then: HashMap<EntryId, NoteReview> = before
                .and_then(read)
                .map(|notes| notes.into_iter().collect())
                .unwrap_or_default();
            let mut input = ReviewInput::default();
            for (id, note) in now {
                let old = then.get(&id);
                if old == Some(&note) {
                    continue;
                }
                let old_review = old.map(|n| n.review.clone()).unwrap_or_default();
                if writes_review(&old_review, &note.review) {
                    input.decided.push(id);
                }
                input.notes.push((id, note));
            }
            input
        }
        DocKind::Profile => ReviewInput {
            reference: case_reference_in(after),
            ..ReviewInput::default()
        },
        _ => ReviewInput::default(),
    }
}

/// The case reference at the root of a `profile` document (a string or a text object).
fn case_reference_in(doc: &Automerge) -> Option<String> {
    match doc.get(ROOT, "case_reference").ok().flatten()? {
        (Value::Scalar(s), _) => s.as_str().map(str::to_owned),
        (Value::Object(_), id) => doc.text(&id).ok(),
    }
}

/// The audit detail refusing `input` for `caller`, if it signs off or returns a note of a
/// case whose team `caller` does not supervise.
pub fn refusal(perms: &Permissions, doc: &DocId, input: &ReviewInput) -> Option<Json> {
    if input.decided.is_empty() || perms.supervises(doc) {
        return None;
    }
    Some(json!({
        "reason": "write_rule",
        "violations": ["a review is written only by a supervisor of the case's team"],
    }))
}

/// Keep the index for `input`, read from `doc` just stored by `caller` at `now`: a note new
/// to the index is recorded as `caller`'s (the first store of a note is its author's sync);
/// a note entering `submitted` gets `now` as its submission time; each decision is audited
/// (`note_reviewed`, with the note and the status, no comment).
pub fn record(
    tx: &Tx<'_>,
    caller: &Caller,
    doc: &DocId,
    input: &ReviewInput,
    now: i64,
) -> Result<()> {
    let case = doc.case.to_string();
    if let Some(reference) = &input.reference {
        tx.execute(
            "INSERT INTO case_references (case_id, reference) VALUES (?1, ?2)
             ON CONFLICT(case_id) DO UPDATE SET reference = excluded.reference",
            params![case, tx.seal_text(&reference_row(&case), reference)],
        )?;
    }
    if input.notes.is_empty() {
        return Ok(());
    }
    let mut upsert = tx.prepare_cached(
        "INSERT INTO review_index (case_id, note_id, author_user, visited_at, status,
             submitted_at, reviewer, reviewed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(case_id, note_id) DO UPDATE SET
             visited_at = excluded.visited_at,
             status = excluded.status,
             submitted_at = CASE
                 WHEN excluded.status = 'submitted' AND review_index.status <> 'submitted'
                 THEN excluded.submitted_at ELSE review_index.submitted_at END,
             reviewer = COALESCE(excluded.reviewer, review_index.reviewer),
             reviewed_at = COALESCE(excluded.reviewed_at, review_index.reviewed_at)",
    )?;
    for (id, note) in &input.notes {
        let status = note.review.status;
        let decided = note.review.is_decided();
        upsert.execute(params![
            case,
            id.to_string(),
            caller.user.id,
            note.visited_at.map(|t| t.timestamp()),
            status_name(status),
            (status == ReviewStatus::Submitted).then_some(now),
            note.review
                .reviewer
                .filter(|_| decided)
                .map(|u| u.to_string()),
            note.review
                .reviewed_at
                .filter(|_| decided)
                .map(|t| t.timestamp()),
        ])?;
    }
    for id in &input.decided {
        let status = input
            .notes
            .iter()
            .find(|(n, _)| n == id)
            .map(|(_, n)| status_name(n.review.status));
        audit::append(
            tx,
            now,
            Event {
                event: "note_reviewed",
                actor_user: Some(caller.user.id.clone()),
                actor_device: Some(caller.device.to_string()),
                case_id: Some(case.clone()),
                doc_id: Some(doc.to_string()),
                detail: json!({ "note": id.to_string(), "status": status }),
                ..Event::default()
            },
        )?;
    }
    Ok(())
}

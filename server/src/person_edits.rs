//! A change a person makes on the server (from the console) to a case document, stored exactly
//! as a synced change is: made through the core's model with the person as author and their
//! browser's device as the automerge actor, checked against the access policy and the write
//! rules as a device's change would be, stored with a new sequence number (so every phone that
//! holds the document receives it on its next sync), its conflicts re-counted, any alerts it
//! causes raised, and audited (`write`, with what was done; never content).

use automerge::Automerge;
use casebook_core::doc::{Author, CaseDoc, DocId, Edit};
use casebook_core::ids::UserId;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::{self, Caller};
use crate::db;
use crate::directory;
use crate::error::{Error, Result};
use crate::params;
use crate::sql::Tx;
use crate::state::AppState;

/// Apply `change` to the stored document `doc` as `caller`'s person at the server's clock,
/// and store it as a synced change. `what` names the change in the audit (`"resolve_conflict"`).
/// Refused with [`Error::Forbidden`] (and audited `denied`) if the person may not write the
/// document, [`Error::NotFound`] if it is not stored.
pub async fn apply<F>(
    state: &AppState,
    caller: Caller,
    doc: DocId,
    what: &'static str,
    change: F,
) -> Result<()>
where
    F: FnOnce(&mut CaseDoc, &Edit) -> casebook_core::Result<()> + Send + 'static,
{
    let now = state.clock.now();
    let at = DateTime::<Utc>::from_timestamp(now, 0)
        .ok_or_else(|| Error::Corrupt("clock out of range".into()))?;
    let refused = state
        .db
        .write(move |tx| apply_in(tx, &caller, doc, what, change, now, at))
        .await?;
    match refused {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// The write transaction. A refusal is returned as `Ok(Some(error))` so its audit row commits.
fn apply_in<F>(
    tx: &Tx<'_>,
    caller: &Caller,
    doc: DocId,
    what: &'static str,
    change: F,
    now: i64,
    at: DateTime<Utc>,
) -> Result<Option<Error>>
where
    F: FnOnce(&mut CaseDoc, &Edit) -> casebook_core::Result<()>,
{
    let caller = auth::recheck(**tx, caller, now)?;
    let perms = directory::permissions(**tx, &caller.user)?;
    let deny = |reason: &str| -> Result<Option<Error>> {
        audit::append(
            tx,
            now,
            Event {
                event: "denied",
                actor_user: Some(caller.user.id.clone()),
                actor_device: Some(caller.device.to_string()),
                case_id: Some(doc.case.to_string()),
                doc_id: Some(doc.to_string()),
                detail: json!({ "reason": reason, "change": what }),
                ..Event::default()
            },
        )?;
        Ok(Some(Error::Forbidden(
            "you may not change this document of this case",
        )))
    };
    if !perms.access(&doc).can_write() {
        return deny("console_write");
    }
    let stored = db::docs::read_bytes(**tx, &doc.to_string())?;
    let Some(stored) = stored else {
        return Ok(Some(Error::NotFound(
            "this document is not on the server yet",
        )));
    };
    let user: UserId = caller
        .user
        .id
        .parse()
        .map_err(|_| Error::Corrupt("user id".into()))?;
    let edit = Edit::new(
        Author {
            user,
            device: caller.device,
        },
        at,
    );
    let unreadable = || Error::Corrupt("stored document does not load".into());
    let before = Automerge::load(&stored).map_err(|_| unreadable())?;
    let mut loaded = CaseDoc::load(doc, Some(&stored), &[]).map_err(|_| unreadable())?;
    if let Err(e) = change(&mut loaded, &edit) {
        return Ok(Some(core_error(&e)));
    }
    let saved = loaded.save();
    let after = Automerge::load(&saved).map_err(|_| unreadable())?;
    if let Some(detail) = crate::write_rules::refusal(&doc, &before, &after, &caller) {
        audit_denied(tx, &caller, &doc, detail, now)?;
        return Ok(Some(Error::Forbidden(
            "your role may not make this change to the document",
        )));
    }
    let seq = i64::try_from(db::next_seq(tx)?).map_err(|_| Error::Corrupt("sequence".into()))?;
    tx.execute(
        "UPDATE docs SET seq = ?1, bytes = ?2 WHERE doc_id = ?3",
        params![
            seq,
            db::docs::sealed(**tx, &doc.to_string(), &saved),
            doc.to_string()
        ],
    )?;
    index_stored(tx, &caller, &doc, &before, &after, now)?;
    audit::append(
        tx,
        now,
        Event {
            event: "write",
            actor_user: Some(caller.user.id.clone()),
            actor_device: Some(caller.device.to_string()),
            case_id: Some(doc.case.to_string()),
            doc_id: Some(doc.to_string()),
            detail: json!({ "console": what, "doc_bytes": saved.len() }),
            ..Event::default()
        },
    )?;
    Ok(None)
}

/// Audit a refusal (`denied`, with its `detail`) of `caller`'s change to `doc`.
pub(crate) fn audit_denied(
    tx: &Tx<'_>,
    caller: &Caller,
    doc: &DocId,
    detail: serde_json::Value,
    now: i64,
) -> Result<()> {
    audit::append(
        tx,
        now,
        Event {
            event: "denied",
            actor_user: Some(caller.user.id.clone()),
            actor_device: Some(caller.device.to_string()),
            case_id: Some(doc.case.to_string()),
            doc_id: Some(doc.to_string()),
            detail,
            ..Event::default()
        },
    )?;
    Ok(())
}

/// Bring the server's indexes up to date with a document the console just stored (as the
/// sync exchange does for a synced change): the conflict count, alerts of missing episodes,
/// the review index, the report facts and the deadline index. Shared by every console write
/// (`review/decide.rs` too), so no index falls behind a change made from a browser.
pub(crate) fn index_stored(
    tx: &Tx<'_>,
    caller: &Caller,
    doc: &DocId,
    before: &Automerge,
    after: &Automerge,
    now: i64,
) -> Result<()> {
    crate::conflict_index::record(tx, doc, crate::conflict_index::count_in(after), now)?;
    let events = crate::alerts::episode_events_in(doc, Some(before), after);
    crate::alerts::raise(tx, caller, doc, &events, now)?;
    let review = crate::review::input_in(doc, Some(before), after);
    crate::review::record(tx, caller, doc, &review, now)?;
    if let Some(facts) = crate::reports::facts::facts_in(doc, after) {
        crate::reports::facts::record(tx, doc, &facts, now)?;
    }
    if let Some(facts) = crate::deadline_index::facts_in(doc, after) {
        crate::deadline_index::record(tx, doc, &facts)?;
    }
    Ok(())
}

/// A core refusal as the server's error (the core's messages name fields, never content).
fn core_error(e: &casebook_core::Error) -> Error {
    match e {
        casebook_core::Error::NoSuchConflict(_) => {
            Error::Conflict("that conflict is no longer open; reload the page")
        }
        other => Error::BadRequest(other.to_string()),
    }
}

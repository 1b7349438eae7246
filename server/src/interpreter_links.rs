//! The interpreter link check across an organisation (statutory guidance, paragraph 26;
//! `casebook_core::model::interpreter_links`), run by the sync exchange on the documents it
//! stores:
//!
//! - When an `associates` document is stored, the folded forms of its persons of concern
//!   (names and aliases, E.164 phone numbers, organisation) replace the case's row in
//!   `associate_keys`.
//! - When a `visits` document is stored whose notes name an interpreter that is new or
//!   changed since the stored version, that interpreter is checked against the
//!   `associate_keys` of every other case of the organisation. For each case where a person
//!   of concern may be the interpreter, an `interpreter_link` alert goes to the supervisors of
//!   that case's team. It names the case where the interpreter was recorded by its reference
//!   only: no name, number, note or person leaves that case. At most one alert per note,
//!   case and person. Audited `alert_created`.
//!
//! A sync that changes nothing, or changes a visits document without touching an
//! interpreter, runs no check.

use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};

use casebook_core::doc::{CaseDoc, DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{AssociateKeys, Interpreter, InterpreterKeys};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{self, Event};
use crate::auth::Caller;
use crate::db;
use crate::directory;
use crate::error::{Error, Result};
use crate::params;
use crate::sql::{Tx, Value};

/// What a stored document means for the check, read from the new save (and, for `visits`,
/// the stored one before it). Pure.
#[derive(Debug, Default)]
pub struct LinkInput {
    /// For an `associates` document: the folded forms of its persons.
    pub keys: Option<Vec<AssociateKeys>>,
    /// For a `visits` document: the notes whose interpreter is new or changed.
    pub interpreters: Vec<(EntryId, Interpreter)>,
}

fn load(doc: &DocId, bytes: &[u8]) -> Option<CaseDoc> {
    catch_unwind(AssertUnwindSafe(|| {
        CaseDoc::load(*doc, Some(bytes), &[]).ok()
    }))
    .ok()
    .flatten()
}

/// What a stored document means for the check, for the sync exchange, which holds the
/// documents in memory: a `visits` document's
/// interpreters are read from `before` and `after` themselves (no second load of a document of
/// years of long notes); an `associates` document, small, is read from its new save.
pub fn input_in(
    doc: &DocId,
    before: Option<&automerge::Automerge>,
    after: &automerge::Automerge,
    after_bytes: &[u8],
) -> LinkInput {
    match doc.kind {
        // Small, and read through the case model: loaded from its new save.
        DocKind::Associates => LinkInput {
            keys: load(doc, after_bytes).and_then(|d| {
                catch_unwind(AssertUnwindSafe(|| {
                    d.persons().ok().map(|p| AssociateKeys::all(&p))
                }))
                .ok()
                .flatten()
            }),
            interpreters: Vec::new(),
        },
        DocKind::Visits => {
            let read = |d: &automerge::Automerge| {
                catch_unwind(AssertUnwindSafe(|| {
                    casebook_core::model::interpreters_in(*doc, d).ok()
                }))
                .ok()
                .flatten()
                .map(|notes| notes.into_iter().collect::<HashMap<_, _>>())
            };
            let Some(now) = read(after) else {
                return LinkInput::default();
            };
            let then = before.and_then(read).unwrap_or_default();
            changed_interpreters(now, &then)
        }
        _ => LinkInput::default(),
    }
}

/// The notes of `now` whose interpreter is new or changed since `then`, and names someone.
fn changed_interpreters(
    now: HashMap<EntryId, Interpreter>,
    then: &HashMap<EntryId, Interpreter>,
) -> LinkInput {
    let mut changed: Vec<(EntryId, Interpreter)> = now
        .into_iter()
        .filter(|(id, i)| {
            let before = then.get(id);
            before.is_none_or(|b| (&b.name, &b.phone, &b.agency) != (&i.name, &i.phone, &i.agency))
                && !InterpreterKeys::new(i).is_empty()
        })
        .collect();
    changed.sort_by_key(|(id, _)| *id);
    LinkInput {
        keys: None,
        interpreters: changed,
    }
}

/// Keep the index and raise the alerts for `input`, read from `doc` just stored by
/// `caller`'s sync.
pub fn record(
    tx: &Tx<'_>,
    caller: &Caller,
    doc: &DocId,
    input: &LinkInput,
    now: i64,
) -> Result<()> {
    let case = doc.case.to_string();
    if let Some(keys) = &input.keys {
        let json =
            serde_json::to_string(keys).map_err(|_| Error::Corrupt("associate keys".into()))?;
        tx.execute(
            "INSERT INTO associate_keys (case_id, keys) VALUES (?1, ?2)
             ON CONFLICT(case_id) DO UPDATE SET keys = excluded.keys",
            params![case, tx.seal_text(&format!("associate_keys/{case}"), &json)],
        )?;
    }
    if input.interpreters.is_empty() {
        return Ok(());
    }
    // Every other case of the organisation with persons of concern.
    let others = {
        let mut stmt = tx.prepare_cached(
            "SELECT k.case_id, k.keys FROM associate_keys k JOIN cases c ON c.id = k.case_id
             WHERE c.org_id = (SELECT org_id FROM cases WHERE id = ?1) AND k.case_id <> ?1
             ORDER BY k.case_id",
        )?;
        stmt.query_map([&case], |r| {
            let other: String = r.get(0)?;
            let keys = tx.unseal_text(&format!("associate_keys/{other}"), r.get::<_, Value>(1)?)?;
            Ok((other, keys))
        })?
        .collect::<crate::sql::Result<Vec<_>>>()?
    };
    if others.is_empty() {
        return Ok(());
    }
    let others: Vec<(String, Vec<AssociateKeys>)> = others
        .into_iter()
        .filter_map(|(c, k)| serde_json::from_str(&k).ok().map(|k| (c, k)))
        .collect();
    let mut reference = None;
    for (note, interpreter) in &input.interpreters {
        let mine = InterpreterKeys::new(interpreter);
        for (other, keys) in &others {
            let mut persons = BTreeSet::new();
            for person in keys {
                let mut links = Vec::new();
                mine.links_to(person, "", &mut links);
                if !links.is_empty() {
                    persons.insert(person.person);
                }
            }
            for person in persons {
                if reference.is_none() {
                    reference = Some(case_reference(tx, doc.case)?);
                }
                let linked = reference.clone().flatten();
                raise(tx, caller, doc, other, *note, person, linked, now)?;
            }
        }
    }
    Ok(())
}

/// The reference of `case` (from its stored `profile` document), if it reads.
fn case_reference(tx: &Tx<'_>, case: CaseId) -> Result<Option<String>> {
    let profile = DocId::new(case, DocKind::Profile);
    let bytes = db::docs::read_bytes(**tx, &profile.to_string())?;
    Ok(bytes.and_then(|b| {
        let loaded = load(&profile, &b)?;
        catch_unwind(AssertUnwindSafe(|| loaded.profile().ok()))
            .ok()
            .flatten()
            .map(|p| p.case_reference)
    }))
}

/// The alert's opaque id for (recording case, note, person): one alert per such triple,
/// revealing none of them.
fn link_id(recorded: CaseId, note: EntryId, person: EntryId) -> EntryId {
    let mut hash = Sha256::new();
    hash.update(b"casebook interpreter link v1");
    hash.update(recorded.as_bytes());
    hash.update(note.as_bytes());
    hash.update(person.as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    EntryId::from_bytes(bytes)
}

/// The supervisors of the team of `case`.
fn supervisors(tx: &Tx<'_>, case: &str) -> Result<Vec<String>> {
    let mut stmt = tx.prepare_cached(
        "SELECT m.user_id FROM cases c JOIN team_members m ON m.team_id = c.team_id
             JOIN users u ON u.id = m.user_id
         WHERE c.id = ?1 AND u.org_id = c.org_id AND u.role = 'supervisor'
         ORDER BY 1",
    )?;
    let users = stmt
        .query_map([case], |r| r.get::<_, String>(0))?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(users)
}

#[allow(clippy::too_many_arguments)]
fn raise(
    tx: &Tx<'_>,
    caller: &Caller,
    doc: &DocId,
    case: &str,
    note: EntryId,
    person: EntryId,
    linked_reference: Option<String>,
    now: i64,
) -> Result<()> {
    let kind = casebook_core::alert::AlertKind::InterpreterLink.as_str();
    let episode = link_id(doc.case, note, person).to_string();
    let exists = tx
        .prepare_cached(
            "SELECT 1 FROM alerts WHERE case_id = ?1 AND episode_id = ?2 AND kind = ?3",
        )?
        .exists(params![case, episode, kind])?;
    if exists {
        return Ok(());
    }
    let id = directory::random_id();
    let seq = i64::try_from(db::next_seq(tx)?).map_err(|_| Error::Corrupt("sequence".into()))?;
    tx.execute(
        "INSERT INTO alerts (id, case_id, episode_id, kind, at, raised_at, raised_by, seq,
                             linked_reference)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7, ?8)",
        params![
            id,
            case,
            episode,
            kind,
            now,
            caller.user.id,
            seq,
            linked_reference.map(|r| tx.seal_text(&crate::alerts::linked_reference_row(&id), &r))
        ],
    )?;
    let to = supervisors(tx, case)?;
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO alert_recipients (alert_id, user_id) VALUES (?1, ?2)",
    )?;
    for user in &to {
        insert.execute(params![id, user])?;
    }
    audit::append(
        tx,
        now,
        Event {
            event: "alert_created",
            actor_user: Some(caller.user.id.clone()),
            actor_device: Some(caller.device.to_string()),
            case_id: Some(case.to_owned()),
            doc_id: Some(doc.to_string()),
            subject: Some(id),
            detail: json!({ "kind": kind, "recipients": to }),
        },
    )?;
    Ok(())
}

//! Computing a document's view rows: all of them ([`rows`]), or only those of the records a
//! change touched ([`update`]).

use std::collections::BTreeSet;

use automerge::{ChangeHash, ObjId, ReadDoc, Value, ValueRef};

use super::touched::{Touched, touched};
use super::{EXCERPT_CHARS, EpisodeRow, RowKind, ViewChange, ViewRow, VisitSummary};
use crate::doc::{CaseDoc, DocKind, Version};
use crate::error::Result;
use crate::ids::{EntryId, UserId};
use crate::model::{
    InterpreterMode, MissingEpisode, PROFILE_KEY, PersonOfConcern, Placement, PlanStep, SHARED_KEY,
    SafetyCheck, SharedPerson, VisitNote,
};

/// A collection of entries in a document, and the kinds of row each entry gives.
struct Collection {
    key: &'static str,
    kinds: &'static [RowKind],
}

fn collections(kind: DocKind) -> &'static [Collection] {
    match kind {
        DocKind::Profile => &[],
        DocKind::Location => &[Collection {
            key: "history",
            kinds: &[RowKind::PlacementHistory],
        }],
        DocKind::Visits => &[Collection {
            key: "notes",
            kinds: &[RowKind::VisitNote, RowKind::VisitSummary],
        }],
        DocKind::Safety => &[
            Collection {
                key: "plan_steps",
                kinds: &[RowKind::PlanStep],
            },
            Collection {
                key: "checks",
                kinds: &[RowKind::SafetyCheck],
            },
            Collection {
                key: "missing_episodes",
                kinds: &[RowKind::MissingEpisode],
            },
            Collection {
                key: SHARED_KEY,
                kinds: &[RowKind::SharedPerson],
            },
        ],
        DocKind::Associates => &[Collection {
            key: "persons",
            kinds: &[RowKind::Person],
        }],
    }
}

/// Root keys that hold no row (identity, and the log of conflict resolutions, whose choices
/// are written to the fields themselves).
const NO_ROWS: &[&str] = &["case", "kind", "resolutions"];

/// Every row of `doc`'s view.
pub fn rows(doc: &mut CaseDoc) -> Result<Vec<ViewRow>> {
    let mut rows = single_rows(doc)?;
    for collection in collections(doc.kind()) {
        let ids = entry_ids(doc, collection.key)?;
        let objs: Vec<ObjId> = ids.iter().map(|(_, obj)| obj.clone()).collect();
        let authors = authors_of(doc, collection, &objs);
        for ((id, obj), author) in ids.into_iter().zip(authors) {
            rows.extend(entry_rows(doc, collection, id, &obj, author)?);
        }
    }
    rows.sort();
    Ok(rows)
}

/// The change to `doc`'s rows since the document was at `before` (its heads when its rows
/// were last computed; empty if they never were). Only records the new changes touched are
/// recomputed; where the changes cannot be placed (an object no longer in the document, a
/// key Casebook does not write), every row is.
pub fn update(doc: &mut CaseDoc, before: &[ChangeHash]) -> Result<ViewChange> {
    let changes = if before.is_empty() {
        Vec::new()
    } else {
        doc.changes_after(before)
    };
    let touched = touched(doc.automerge(), &changes);
    update_with(doc, before, touched)
}

/// [`update`], given what the changes made after `before` touched (as the repository has
/// them already from writing them; `None` when they could not all be placed).
pub(crate) fn update_with(
    doc: &mut CaseDoc,
    before: &[ChangeHash],
    touched: Option<Touched>,
) -> Result<ViewChange> {
    let version = Version::new(doc.heads()).to_string();
    let whole = |doc: &mut CaseDoc, version: String| -> Result<ViewChange> {
        Ok(ViewChange {
            doc: doc.id(),
            version,
            rows: rows(doc)?,
            removed: Vec::new(),
            whole: true,
        })
    };
    if before.is_empty() || doc.kind() == DocKind::Profile {
        return whole(doc, version);
    }
    let Some(touched) = touched else {
        return whole(doc, version);
    };
    let mut singles = false;
    let mut records: BTreeSet<(usize, String)> = BTreeSet::new();
    let kind = doc.kind();
    for (top, record) in touched {
        if NO_ROWS.contains(&top.as_str()) {
            continue;
        }
        if let Some(index) = collections(kind).iter().position(|c| c.key == top) {
            match record {
                Some(record) => {
                    records.insert((index, record));
                }
                None => return whole(doc, version),
            }
        } else if single_keys(kind).contains(&top.as_str())
            || (kind == DocKind::Safety && top == PROFILE_KEY)
        {
            singles = true;
        } else {
            return whole(doc, version);
        }
    }
    let mut change = ViewChange {
        doc: doc.id(),
        version,
        rows: if singles {
            single_rows(doc)?
        } else {
            Vec::new()
        },
        removed: Vec::new(),
        whole: false,
    };
    for (index, record) in records {
        let collection = &collections(kind)[index];
        let parent = doc.object(&[collection.key])?;
        let found = match doc.automerge().get(&parent, record.as_str())? {
            Some((Value::Object(_), obj)) => Some(obj),
            _ => None,
        };
        let (Some(obj), Ok(id)) = (found, record.parse::<EntryId>()) else {
            change
                .removed
                .extend(collection.kinds.iter().map(|k| (*k, record.clone())));
            continue;
        };
        let author = authors_of(doc, collection, std::slice::from_ref(&obj))
            .pop()
            .flatten();
        change
            .rows
            .extend(entry_rows(doc, collection, id, &obj, author)?);
    }
    Ok(change)
}

/// The root keys of the document's single records, besides its collections.
fn single_keys(kind: DocKind) -> &'static [&'static str] {
    match kind {
        DocKind::Location => &["current"],
        DocKind::Safety => &["feel_safe", crate::model::PLACEMENT_STARTED_AT],
        DocKind::Profile | DocKind::Visits | DocKind::Associates => &[],
    }
}

/// The rows of the document's single records (the profile, the current placement, what
/// helps the child feel safe, when the placement started).
fn single_rows(doc: &CaseDoc) -> Result<Vec<ViewRow>> {
    Ok(match doc.kind() {
        DocKind::Profile => vec![ViewRow::new(RowKind::Profile, "", &doc.profile()?)?],
        DocKind::Location => vec![ViewRow::new(
            RowKind::Placement,
            "",
            &doc.current_placement()?,
        )?],
        DocKind::Safety => vec![
            ViewRow::new(RowKind::FeelSafe, "", &doc.feel_safe()?)?,
            ViewRow::new(RowKind::PlacementStart, "", &doc.placement_started_at()?)?,
            ViewRow::new(
                RowKind::MissingPersonProfile,
                "",
                &doc.missing_person_profile()?,
            )?,
        ],
        DocKind::Visits | DocKind::Associates => Vec::new(),
    })
}

/// The entries of a collection: their ids and objects (none if the document has no such
/// collection: the shared persons of a case created before they were in the skeleton).
fn entry_ids(doc: &CaseDoc, collection: &str) -> Result<Vec<(EntryId, ObjId)>> {
    let am = doc.automerge();
    if collection == SHARED_KEY && am.get(automerge::ROOT, collection)?.is_none() {
        return Ok(Vec::new());
    }
    let parent = doc.object(&[collection])?;
    let mut out = Vec::new();
    for item in am.map_range(&parent, ..) {
        let id: EntryId = item
            .key
            .parse()
            .map_err(|_| doc.malformed(collection, "entry key is not an id"))?;
        match item.value {
            ValueRef::Object(_) => out.push((id, item.id())),
            ValueRef::Scalar(_) => {
                return Err(doc.malformed(collection, "an entry is not an object"));
            }
        }
    }
    Ok(out)
}

/// Who created each entry object, for collections whose rows name an author.
fn authors_of(doc: &mut CaseDoc, collection: &Collection, objs: &[ObjId]) -> Vec<Option<UserId>> {
    if collection.kinds.contains(&RowKind::VisitSummary) {
        doc.object_authors(objs)
    } else {
        vec![None; objs.len()]
    }
}

/// The rows of one entry.
fn entry_rows(
    doc: &CaseDoc,
    collection: &Collection,
    id: EntryId,
    obj: &ObjId,
    author: Option<UserId>,
) -> Result<Vec<ViewRow>> {
    let record = id.to_string();
    let key = record.clone();
    let path = [collection.key, key.as_str()];
    Ok(match collection.key {
        "history" => vec![ViewRow::new(
            RowKind::PlacementHistory,
            record,
            &doc.read_obj::<Placement>(obj, &path)?,
        )?],
        "notes" => {
            let note = doc.read_obj::<VisitNote>(obj, &path)?;
            vec![
                ViewRow::new(
                    RowKind::VisitSummary,
                    record.clone(),
                    &summarise(&note, author),
                )?,
                ViewRow::new(RowKind::VisitNote, record, &note)?,
            ]
        }
        "plan_steps" => vec![ViewRow::new(
            RowKind::PlanStep,
            record,
            &doc.read_obj::<PlanStep>(obj, &path)?,
        )?],
        "checks" => vec![ViewRow::new(
            RowKind::SafetyCheck,
            record,
            &doc.read_obj::<SafetyCheck>(obj, &path)?,
        )?],
        "missing_episodes" => vec![ViewRow::new(
            RowKind::MissingEpisode,
            record,
            &EpisodeRow::from(doc.read_obj::<MissingEpisode>(obj, &path)?),
        )?],
        "persons" => vec![ViewRow::new(
            RowKind::Person,
            record,
            &doc.read_obj::<PersonOfConcern>(obj, &path)?,
        )?],
        SHARED_KEY => vec![ViewRow::new(
            RowKind::SharedPerson,
            record,
            &doc.read_obj::<SharedPerson>(obj, &path)?,
        )?],
        _ => Vec::new(),
    })
}

/// A note's summary line.
pub(crate) fn summarise(note: &VisitNote, author: Option<UserId>) -> VisitSummary {
    let text = if note.observations.trim().is_empty() {
        &note.wishes_and_feelings
    } else {
        &note.observations
    };
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    VisitSummary {
        visited_at: note.visited_at,
        author,
        status: note.review.status,
        interpreter: note.interpreter.mode != InterpreterMode::None,
        interpreter_mode: note.interpreter.mode,
        place: note.place.clone(),
        excerpt: text.chars().take(EXCERPT_CHARS).collect(),
        actions: count(note.actions.len()),
        actions_done: count(note.actions.values().filter(|a| a.done).count()),
    }
}

#[cfg(test)]
mod tests {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::doc::{Author, DocId, Edit};
    use crate::ids::{CaseId, DeviceId};
    use crate::model::new_case;

    fn edit() -> Edit {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 30, 9, 0, 0)
            .single()
            .unwrap_or_default();
        Edit::new(
            Author {
                user: UserId::from_bytes([1; 16]),
                device: DeviceId::from_bytes([2; 16]),
            },
            at,
        )
    }

    fn visits_with_notes(n: u8) -> (CaseDoc, Vec<EntryId>) {
        let case = CaseId::from_bytes([5; 16]);
        let mut docs = new_case(
            case,
            &edit(),
            &crate::model::Profile {
                case_reference: "R".into(),
                ..Default::default()
            },
        )
        .expect("case");
        let index = DocKind::ALL
            .iter()
            .position(|k| *k == DocKind::Visits)
            .expect("visits");
        let mut doc = docs.swap_remove(index);
        assert_eq!(doc.id(), DocId::new(case, DocKind::Visits));
        let ids: Vec<EntryId> = (0..n).map(|i| EntryId::from_bytes([i; 16])).collect();
        for id in &ids {
            doc.add_visit_note(&edit(), *id, &VisitNote::default())
                .expect("note");
        }
        (doc, ids)
    }

    #[test]
    fn an_edit_of_one_note_recomputes_that_note_only() {
        let (mut doc, ids) = visits_with_notes(5);
        let before = doc.heads();
        let mut note = doc.visit_note(ids[2]).expect("note");
        note.observations = "changed".into();
        doc.update_visit_note(&edit(), ids[2], &note)
            .expect("update");
        let change = update(&mut doc, &before).expect("update");
        assert!(!change.whole);
        let records: BTreeSet<_> = change.rows.iter().map(|r| r.record.clone()).collect();
        assert_eq!(records, BTreeSet::from([ids[2].to_string()]));
        assert_eq!(change.rows.len(), 2, "the note and its summary");
        assert_eq!(change.version, Version::new(doc.heads()).to_string());

        // A note added is one record too.
        let before = doc.heads();
        let added = EntryId::from_bytes([9; 16]);
        doc.add_visit_note(&edit(), added, &VisitNote::default())
            .expect("note");
        let change = update(&mut doc, &before).expect("update");
        assert!(!change.whole);
        assert!(change.rows.iter().all(|r| r.record == added.to_string()));
    }

    #[test]
    fn a_note_deleted_by_a_peer_removes_its_rows() {
        let (mut doc, ids) = visits_with_notes(2);
        let before = doc.heads();
        let notes = doc.object(&["notes"]).expect("notes");
        let am = doc.automerge_mut();
        am.delete(&notes, ids[0].to_string().as_str())
            .expect("delete");
        am.commit();
        assert!(
            am.get(&notes, ids[0].to_string().as_str())
                .expect("get")
                .is_none()
        );
        let change = update(&mut doc, &before).expect("update");
        assert!(!change.whole);
        assert_eq!(
            change.removed,
            vec![
                (RowKind::VisitNote, ids[0].to_string()),
                (RowKind::VisitSummary, ids[0].to_string())
            ]
        );
    }

    #[test]
    fn without_a_base_every_row_is_computed() {
        let (mut doc, _) = visits_with_notes(3);
        let change = update(&mut doc, &[]).expect("update");
        assert!(change.whole);
        assert_eq!(change.rows.len(), 6);
        assert_eq!(change.rows, rows(&mut doc).expect("rows"));
    }
}
